%% A partisan_plumtree_broadcast_handler for partisan_plumtree_handler_SUITE,
%% run on the peers: stores {Id, Payload} in an ETS table, logs every
%% callback, and has knobs the suite turns to make a node lose a merge,
%% make graft/is_stale/merge/exchange answer otherwise or throw.
%%
%% A broadcast is {Id, Payload}; put/2 stores it and broadcasts it (as
%% riak_core's metadata manager stores, then broadcasts).
-module(partisan_test_broadcast_handler).
-behaviour(partisan_plumtree_broadcast_handler).

%% The behaviour.
-export([broadcast_data/1, merge/2, is_stale/1, graft/1, exchange/1]).

%% Run on the peers by the suite.
-export([start/0, put/2, get/1, lose/1, set/2, calls/0, calls/1, running/0]).

-define(DATA, partisan_test_bh_data).   % {Id, Payload}
-define(LOG, partisan_test_bh_log).     % {Seq, Call}
-define(KNOBS, partisan_test_bh_knobs). % {Knob, Value}, {{lose, Id}, true}
-define(PIDS, partisan_test_bh_pids).   % {Pid}: exchange processes started
-define(OWNER, partisan_test_bh_owner).

%%--------------------------------------------------------------------
%% Run on the peers
%%--------------------------------------------------------------------

%% Fresh tables, owned by a process of their own (a peer:call's process
%% does not last).
start() ->
    case whereis(?OWNER) of
        undefined -> ok;
        Old -> Ref = monitor(process, Old), exit(Old, kill),
               receive {'DOWN', Ref, _, _, _} -> ok end
    end,
    Self = self(),
    Pid = spawn(fun() ->
                        [ets:new(T, [named_table, public, Type])
                         || {T, Type} <- [{?DATA, set}, {?LOG, ordered_set},
                                          {?KNOBS, set}, {?PIDS, set}]],
                        Self ! {?OWNER, ready},
                        receive stop -> ok end
                end),
    true = register(?OWNER, Pid),
    receive {?OWNER, ready} -> ok end.

%% Stores Payload under Id here and broadcasts it.
put(Id, Payload) ->
    true = ets:insert(?DATA, {Id, Payload}),
    partisan_plumtree_broadcast:broadcast({Id, Payload}, ?MODULE).

get(Id) ->
    case ets:lookup(?DATA, Id) of
        [{_, P}] -> {ok, P};
        [] -> error
    end.

%% The next merge of Id drops the payload (and says it was stale).
lose(Id) ->
    true = ets:insert(?KNOBS, {{lose, Id}, true}),
    ok.

%% Knobs: {graft, ok | stale | error | throw}, {merge, ok | throw},
%% {is_stale, ok | throw}, {exchange, {ok, Ms} | error | throw | bad}.
set(Knob, Value) ->
    true = ets:insert(?KNOBS, {Knob, Value}),
    ok.

%% Every callback call, oldest first.
calls() ->
    [Call || {_, Call} <- ets:tab2list(?LOG)].

%% The calls of one callback, without its name.
calls(Name) ->
    [list_to_tuple(tl(tuple_to_list(C))) || C <- calls(), element(1, C) =:= Name].

%% Exchange processes still running.
running() ->
    [P || {P} <- ets:tab2list(?PIDS), is_process_alive(P)].

%%--------------------------------------------------------------------
%% The behaviour
%%--------------------------------------------------------------------

broadcast_data({Id, Payload}) ->
    {Id, Payload}.

merge(Id, Payload) ->
    log({merge, Id, Payload}),
    knob(merge, ok) =:= throw andalso throw(merge_knob),
    case ets:take(?KNOBS, {lose, Id}) of
        [_] ->
            false;
        [] ->
            case ets:lookup(?DATA, Id) of
                [{_, Payload}] ->
                    false;
                _ ->
                    log({merged_new, Id}),
                    ets:insert(?DATA, {Id, Payload})
            end
    end.

is_stale(Id) ->
    log({is_stale, Id}),
    knob(is_stale, ok) =:= throw andalso error(is_stale_knob),
    ets:member(?DATA, Id).

graft(Id) ->
    log({graft, Id}),
    case knob(graft, ok) of
        ok ->
            case ets:lookup(?DATA, Id) of
                [{_, P}] -> {ok, P};
                [] -> {error, not_found}
            end;
        stale -> stale;
        error -> {error, graft_knob};
        throw -> throw(graft_knob)
    end.

%% Logs the peer and how many exchanges were running when called.
exchange(Peer) ->
    log({exchange, Peer, length(running())}),
    case knob(exchange, {ok, 1000}) of
        {ok, Ms} ->
            Pid = spawn(fun() -> timer:sleep(Ms) end),
            true = ets:insert(?PIDS, {Pid}),
            {ok, Pid};
        error -> {error, exchange_knob};
        throw -> throw(exchange_knob);
        bad -> not_a_pid
    end.

%%--------------------------------------------------------------------
%% Internal
%%--------------------------------------------------------------------

log(Call) ->
    true = ets:insert(?LOG, {erlang:unique_integer([monotonic]), Call}).

knob(Knob, Default) ->
    case ets:lookup(?KNOBS, Knob) of
        [{_, V}] -> V;
        [] -> Default
    end.
