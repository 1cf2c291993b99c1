%% @private
%% @doc The nodes the local C-node reaches: owner of the protected ETS
%% table behind `partisan:members/0', `partisan:member/1' and the data
%% path's destination check, and its only reader and writer.
%%
%% The table holds one row `{Node, IsMember}' per node the C-node can
%% reach (the `Reachable' list of `{'$partisan_members', Members,
%% Reachable}', see docs/SHIM_INTERFACE.md): `IsMember' is `true' for the
%% nodes of `Members' (what `partisan:members/0' shows, always including
%% this node) and `false' for nodes reached only through a relay (a
%% client's fellow clients under `client_server').
%%
%% `partisan_cnode' reports its start ({@link cnode_started/1}) and the
%% C-node's events ({@link set/2}, {@link node_up/1},
%% {@link node_down/1}) with synchronous calls, so the table is up to date
%% before anyone hears of an event. Those calls wait as long as it takes
%% (this server never calls `partisan_cnode', so they cannot deadlock; if
%% it dies they fail at once): with the default 5 s a BEAM starved of CPU
%% (1,024 nodes on two cores) timed the call out, which stopped
%% `partisan_cnode' and restarted its C-node, losing the node's broadcasts
%% in the meantime. When that server stops, the table
%% falls back to this node alone. Reads ({@link members/0},
%% {@link is_member/1}, {@link is_reachable/1}, {@link reachable/0}) go
%% straight to the table from the calling process.
%%
%% Started by the supervisor before `partisan_monitor' and
%% `partisan_cnode', so the table outlives restarts of the C-node.
-module(partisan_members).
-behaviour(gen_server).

-include_lib("kernel/include/logger.hrl").
-include("partisan_internal.hrl").

%% API
-export([start_link/0,
         cnode_started/1,
         set/2,
         node_up/1,
         node_down/1,
         members/0,
         is_member/1,
         is_reachable/1,
         reachable/0]).

%% gen_server callbacks
-export([init/1,
         handle_call/3,
         handle_cast/2,
         handle_info/2,
         terminate/2,
         code_change/3]).

-define(SERVER, ?MODULE).
%% The table: {Node, IsMember}.
-define(MEMBERS, partisan_members).

-record(state, {cnode :: {pid(), reference()} | undefined}).

-type state() :: #state{}.

%%====================================================================
%% API
%%====================================================================

-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?SERVER}, ?MODULE, [], []).

%% @doc The `partisan_cnode' server `Pid' started: the table is this node
%% alone until its C-node reports members, and again once `Pid' stops.
-spec cnode_started(pid()) -> ok.
cnode_started(Pid) when is_pid(Pid) ->
    call({cnode_started, Pid}).

%% @doc The C-node's `Members' and `Reachable' lists (non-atoms are
%% ignored; this node is always a member).
-spec set([node()], [node()]) -> ok.
set(Members, Reachable) when is_list(Members), is_list(Reachable) ->
    call({set, Members, Reachable}).

%% @doc `Node' became reachable (whether it is a member, the next
%% {@link set/2} tells).
-spec node_up(node()) -> ok.
node_up(Node) when is_atom(Node) ->
    call({node_up, Node}).

%% @doc `Node' became unreachable (never this node).
-spec node_down(node()) -> ok.
node_down(Node) when is_atom(Node) ->
    call({node_down, Node}).

%% @doc The members, sorted; always includes `node()'.
-spec members() -> [node()].
members() ->
    try ets:select(?MEMBERS, [{{'$1', true}, [], ['$1']}]) of
        Nodes -> lists:usort([node() | Nodes])
    catch
        error:badarg -> [node()]
    end.

%% @doc Whether `Node' is a member.
-spec is_member(node()) -> boolean().
is_member(Node) when Node =:= node() ->
    true;
is_member(Node) ->
    try ets:lookup(?MEMBERS, Node) of
        [{_, true}] -> true;
        _ -> false
    catch
        error:badarg -> false
    end.

%% @doc Whether messages may go to `Node': a member, or reached through a
%% relay.
-spec is_reachable(node()) -> boolean().
is_reachable(Node) ->
    try
        ets:member(?MEMBERS, Node)
    catch
        error:badarg -> false
    end.

%% @doc Every node reachable, members or not, this node included.
-spec reachable() -> [node()].
reachable() ->
    try ets:select(?MEMBERS, [{{'$1', '_'}, [], ['$1']}]) of
        Nodes -> lists:sort(Nodes)
    catch
        error:badarg -> []
    end.

%% The calls from partisan_cnode: no timeout (see the module doc).
-spec call(term()) -> ok.
call(Request) ->
    gen_server:call(?SERVER, Request, infinity).

%%====================================================================
%% gen_server callbacks
%%====================================================================

-spec init([]) -> {ok, state()}.
init([]) ->
    ?MEMBERS = ets:new(?MEMBERS, [named_table, protected, set, {read_concurrency, true}]),
    reset(),
    %% Restarted while a partisan_cnode runs: its C-node's next members
    %% event fills the table again.
    {ok, #state{cnode = monitor_cnode(whereis(?CNODE_SERVER), undefined)}}.

-spec handle_call(term(), gen_server:from(), state()) -> {reply, term(), state()}.
handle_call({cnode_started, Pid}, _From, #state{cnode = CNode} = State) ->
    reset(),
    {reply, ok, State#state{cnode = monitor_cnode(Pid, CNode)}};
handle_call({set, Members, Reachable}, _From, State) ->
    set_members(Members, Reachable),
    {reply, ok, State};
handle_call({node_up, Node}, _From, State) ->
    _ = ets:insert_new(?MEMBERS, {Node, false}),
    {reply, ok, State};
handle_call({node_down, Node}, _From, State) ->
    Node =/= node() andalso ets:delete(?MEMBERS, Node),
    {reply, ok, State};
handle_call(Request, _From, State) ->
    {reply, {error, {bad_request, Request}}, State}.

-spec handle_cast(term(), state()) -> {noreply, state()}.
handle_cast(Msg, State) ->
    ?LOG_WARNING(#{what => unexpected_cast, msg => Msg}),
    {noreply, State}.

-spec handle_info(term(), state()) -> {noreply, state()}.
handle_info({'DOWN', MRef, process, Pid, _Reason}, #state{cnode = {Pid, MRef}} = State) ->
    %% The C-node's server stopped: nothing is reachable any more.
    reset(),
    {noreply, State#state{cnode = undefined}};
handle_info(Msg, State) ->
    ?LOG_WARNING(#{what => unexpected_message, msg => Msg}),
    {noreply, State}.

-spec terminate(term(), state()) -> ok.
terminate(_Reason, _State) ->
    ok.

-spec code_change(term(), state(), term()) -> {ok, state()}.
code_change(_OldVsn, State, _Extra) ->
    {ok, State}.

%%====================================================================
%% Internal
%%====================================================================

reset() ->
    true = ets:delete_all_objects(?MEMBERS),
    true = ets:insert(?MEMBERS, {node(), true}),
    ok.

monitor_cnode(undefined, Current) ->
    Current;
monitor_cnode(Pid, {Pid, _} = Current) ->
    Current;
monitor_cnode(Pid, Current) ->
    case Current of
        {_, OldRef} -> erlang:demonitor(OldRef, [flush]);
        undefined -> ok
    end,
    {Pid, erlang:monitor(process, Pid)}.

set_members(Members0, Reachable0) ->
    Self = node(),
    Members = lists:usort([Self | [N || N <- Members0, is_atom(N)]]),
    Reachable = lists:usort([N || N <- Reachable0, is_atom(N)]) -- Members,
    New = lists:sort([{N, true} || N <- Members] ++ [{N, false} || N <- Reachable]),
    Old = lists:sort(ets:tab2list(?MEMBERS)),
    case New =:= Old of
        true ->
            ok;
        false ->
            Keep = [N || {N, _} <- New],
            [ets:delete(?MEMBERS, N) || {N, _} <- Old, not lists:member(N, Keep)],
            true = ets:insert(?MEMBERS, New -- Old),
            ?LOG_INFO(#{what => members, members => Members, relayed => Reachable}),
            ok
    end.
