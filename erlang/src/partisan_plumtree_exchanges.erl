%% @private
%% @doc The anti-entropy exchanges of `partisan_plumtree_broadcast':
%% started with `Mod:exchange(Peer)' (at most `Max' running at once),
%% their processes monitored by the calling process (the server), listed
%% and cancelled. The list lives in the caller's state.
-module(partisan_plumtree_exchanges).

-include_lib("kernel/include/logger.hrl").

-export([new/0,
         start/4,
         down/4,
         cancel/2,
         list/1]).

-export_type([exchanges/0, exchange/0, selector/0]).

-type exchange() :: {module(), node(), reference(), pid()}.
-opaque exchanges() :: [exchange()].
%% Which exchanges to cancel: all of them, those with a peer, those of a
%% handler, or the one with that monitor reference or process.
-type selector() :: all | {peer, node()} | {mod, module()} | reference() | pid().

%% @doc No exchange running.
-spec new() -> exchanges().
new() ->
    [].

%% @doc One round: for each of `Mods', in random order, while fewer than
%% `Max' exchanges run, `Mod:exchange(Peer)' with a random one of
%% `Peers'. A refusal (`{error, _}', another answer, an exception) is
%% logged and the next module tried.
-spec start([module()], [node()], pos_integer(), exchanges()) -> exchanges().
start(_Mods, [], _Max, Exchanges) ->
    Exchanges;
start(Mods, Peers, Max, Exchanges) ->
    lists:foldl(fun(Mod, Acc) when length(Acc) < Max ->
                        start_one(Mod, pick(Peers), Acc);
                   (_Mod, Acc) ->
                        Acc
                end, Exchanges, shuffle(Mods)).

%% @doc The process of an exchange ended (a `DOWN' message): `{ok,
%% Exchanges}' without it (an exit other than `normal' is logged), or
%% `error' if the monitor is not one of an exchange.
-spec down(reference(), pid(), term(), exchanges()) -> {ok, exchanges()} | error.
down(Ref, Pid, Reason, Exchanges) ->
    case lists:keytake(Ref, 3, Exchanges) of
        {value, {Mod, Peer, Ref, Pid}, Rest} ->
            case Reason of
                normal -> ok;
                _ -> ?LOG_NOTICE(#{what => broadcast_exchange_failed, handler => Mod,
                                   peer => Peer, reason => Reason})
            end,
            {ok, Rest};
        _ ->
            error
    end.

%% @doc Kills the processes of the exchanges `Which' selects: those
%% cancelled, and those left.
-spec cancel(selector(), exchanges()) -> {[exchange()], exchanges()}.
cancel(Which, Exchanges) ->
    {Cancelled, Rest} = lists:partition(fun(E) -> selected(Which, E) end, Exchanges),
    [begin
         erlang:demonitor(Ref, [flush]),
         exit(Pid, kill)
     end || {_, _, Ref, Pid} <- Cancelled],
    {Cancelled, Rest}.

%% @doc The running exchanges: `{Mod, Peer, MonitorRef, Pid}', newest
%% first.
-spec list(exchanges()) -> [exchange()].
list(Exchanges) ->
    Exchanges.

%%====================================================================
%% Internal
%%====================================================================

start_one(Mod, Peer, Exchanges) ->
    case partisan_plumtree_broadcast_handler:call(Mod, exchange, [Peer]) of
        {ok, {ok, Pid}} when is_pid(Pid) ->
            [{Mod, Peer, erlang:monitor(process, Pid), Pid} | Exchanges];
        {ok, {error, Reason}} ->
            ?LOG_NOTICE(#{what => broadcast_exchange_not_started, handler => Mod,
                          peer => Peer, reason => Reason}),
            Exchanges;
        {ok, Other} ->
            ?LOG_WARNING(#{what => broadcast_exchange_bad_return, handler => Mod,
                           peer => Peer, returned => Other}),
            Exchanges;
        error ->
            Exchanges
    end.

selected(all, _) -> true;
selected({peer, Peer}, {_, Peer, _, _}) -> true;
selected({mod, Mod}, {Mod, _, _, _}) -> true;
selected(Ref, {_, _, Ref, _}) when is_reference(Ref) -> true;
selected(Pid, {_, _, _, Pid}) when is_pid(Pid) -> true;
selected(_, _) -> false.

pick(List) ->
    lists:nth(rand:uniform(length(List)), List).

shuffle(List) ->
    [X || {_, X} <- lists:sort([{rand:uniform(), X} || X <- List])].
