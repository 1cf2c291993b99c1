%% @private
%% @doc Remembers the cluster this node is in, so that a restarted C-node
%% (after a crash, or any restart by the supervisor) rejoins it without a
%% manual `join'.
%%
%% The C-node reports its contacts (every other member that has not left,
%% with its addresses) with `{'$partisan_contacts', [{Node, [{Ip, Port}]}]}'
%% whenever they change; `partisan_cnode' passes them on here. This server
%% is started before `partisan_cnode' by the supervisor, so it outlives
%% the C-node. When a C-node becomes ready after an earlier one, and the
%% earlier one had contacts, it joins them one at a time (in random order)
%% until one join succeeds, retrying every `?RETRY' ms for at most
%% `?GIVE_UP' ms. `partisan:leave/0' makes it forget the contacts, so a
%% node that left stays out.
-module(partisan_rejoin).
-behaviour(gen_server).

-include_lib("kernel/include/logger.hrl").

-export([start_link/0,
         contacts/1,
         cnode_ready/0,
         forget/0]).

-export([init/1,
         handle_call/3,
         handle_cast/2,
         handle_info/2,
         terminate/2,
         code_change/3]).

-define(SERVER, ?MODULE).
-define(RETRY, 2000).
-define(GIVE_UP, 120000).

-type contact() :: {node(), [{inet:ip_address(), inet:port_number()}]}.

-record(state, {contacts = [] :: [contact()],
                started = 0 :: non_neg_integer(),      % C-nodes seen ready
                joiner :: {pid(), reference()} | undefined,
                deadline :: integer() | undefined}).

-type state() :: #state{}.

%%====================================================================
%% API
%%====================================================================

-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?SERVER}, ?MODULE, [], []).

%% @doc The C-node's current contacts (called by `partisan_cnode').
-spec contacts([contact()]) -> ok.
contacts(Contacts) when is_list(Contacts) ->
    gen_server:cast(?SERVER, {contacts, Contacts}).

%% @doc A C-node became ready (called by `partisan_cnode').
-spec cnode_ready() -> ok.
cnode_ready() ->
    gen_server:cast(?SERVER, cnode_ready).

%% @doc This node left the cluster: do not rejoin it.
-spec forget() -> ok.
forget() ->
    gen_server:cast(?SERVER, forget).

%%====================================================================
%% gen_server callbacks
%%====================================================================

-spec init([]) -> {ok, state()}.
init([]) ->
    {ok, #state{}}.

-spec handle_call(term(), gen_server:from(), state()) -> {reply, term(), state()}.
handle_call(Request, _From, State) ->
    {reply, {error, {bad_request, Request}}, State}.

-spec handle_cast(term(), state()) -> {noreply, state()}.
handle_cast({contacts, Contacts}, State) ->
    %% Once the new C-node has contacts of its own, it is back in.
    {noreply, stop_joiner(State#state{contacts = valid(Contacts)})};
handle_cast(cnode_ready, #state{started = 0} = State) ->
    {noreply, State#state{started = 1}};
handle_cast(cnode_ready, #state{started = N, contacts = []} = State) ->
    {noreply, State#state{started = N + 1}};
handle_cast(cnode_ready, #state{started = N, contacts = Contacts} = State0) ->
    State = stop_joiner(State0#state{started = N + 1}),
    ?LOG_NOTICE(#{what => rejoining, contacts => [Node || {Node, _} <- Contacts]}),
    Deadline = erlang:monotonic_time(millisecond) + ?GIVE_UP,
    {noreply, start_joiner(State#state{deadline = Deadline})};
handle_cast(forget, State) ->
    {noreply, stop_joiner(State#state{contacts = []})};
handle_cast(Msg, State) ->
    ?LOG_WARNING(#{what => unexpected_cast, msg => Msg}),
    {noreply, State}.

-spec handle_info(term(), state()) -> {noreply, state()}.
handle_info({'DOWN', MRef, process, Pid, Result}, #state{joiner = {Pid, MRef}} = State0) ->
    State = State0#state{joiner = undefined},
    case Result of
        {joined, Node} ->
            ?LOG_NOTICE(#{what => rejoined, via => Node}),
            {noreply, State};
        {failed, Errors} ->
            case erlang:monotonic_time(millisecond) < State#state.deadline of
                true ->
                    erlang:send_after(?RETRY, self(), retry),
                    {noreply, State};
                false ->
                    ?LOG_WARNING(#{what => rejoin_failed, errors => Errors,
                                   advice => "join the cluster with partisan:join/1"}),
                    {noreply, State}
            end;
        Other ->
            ?LOG_WARNING(#{what => rejoin_crashed, reason => Other}),
            {noreply, State}
    end;
handle_info(retry, #state{joiner = undefined, contacts = [_ | _]} = State) ->
    {noreply, start_joiner(State)};
handle_info(retry, State) ->
    {noreply, State};
handle_info(Msg, State) ->
    ?LOG_WARNING(#{what => unexpected_message, msg => Msg}),
    {noreply, State}.

-spec terminate(term(), state()) -> ok.
terminate(_Reason, State) ->
    _ = stop_joiner(State),
    ok.

-spec code_change(term(), state(), term()) -> {ok, state()}.
code_change(_OldVsn, State, _Extra) ->
    {ok, State}.

%%====================================================================
%% Internal
%%====================================================================

valid(Contacts) ->
    [{Node, Addrs} || {Node, [_ | _] = Addrs} <- Contacts, is_atom(Node)].

%% Joins run in a process of their own: a join may wait seconds for a node
%% that does not answer, and contacts keep coming meanwhile.
start_joiner(#state{contacts = Contacts} = State) ->
    Shuffled = [C || {_, C} <- lists:sort([{rand:uniform(), C} || C <- Contacts])],
    {Pid, MRef} = spawn_monitor(fun() -> exit(join_one(Shuffled, [])) end),
    State#state{joiner = {Pid, MRef}}.

stop_joiner(#state{joiner = undefined} = State) ->
    State;
stop_joiner(#state{joiner = {Pid, MRef}} = State) ->
    erlang:demonitor(MRef, [flush]),
    exit(Pid, kill),
    State#state{joiner = undefined}.

join_one([], Errors) ->
    {failed, lists:reverse(Errors)};
join_one([{Node, Addrs} | Rest], Errors) ->
    case partisan:join(#{name => Node, listen_addrs => [#{ip => Ip, port => Port} || {Ip, Port} <- Addrs]}) of
        ok -> {joined, Node};
        {error, not_supported} -> {failed, [not_supported]};
        Error -> join_one(Rest, [{Node, Error} | Errors])
    end.
