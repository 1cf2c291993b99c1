%% @private
%% @doc Node up/down notifications: keeps the `on_up'/`on_down'
%% callbacks and the `monitor_nodes' subscribers, and dispatches the
%% C-node's `'$partisan_nodeup'' / `'$partisan_nodedown'' events (relayed
%% by `partisan_cnode') to them.
%%
%% Started before `partisan_cnode' by the supervisor, so registrations
%% survive a restart of the C-node. When the `partisan_cnode' server
%% stops (its C-node died or the application stops), every node that was
%% up is reported down, as `net_kernel' does when distribution stops.
%% Restarted on its own, it takes the nodes up from `partisan_members'.
%%
%% Each callback runs in a process of its own (`proc_lib:spawn/1' per
%% event), so a slow or crashing callback never blocks this server or the
%% C-node relay; a crash is logged as a crash report (its process
%% dictionary names the event and the node). Subscribers get
%% `{nodeup, Node}' / `{nodedown, Node}' messages from this server, so
%% they arrive in the order the events happened.
-module(partisan_monitor).
-behaviour(gen_server).

-include_lib("kernel/include/logger.hrl").
-include("partisan_internal.hrl").

-export([start_link/0,
         on_up/2,
         on_down/2,
         monitor_nodes/2,
         node_event/2,
         cnode_started/1]).

-export([init/1,
         handle_call/3,
         handle_cast/2,
         handle_info/2,
         terminate/2,
         code_change/3]).

-export_type([callback/0, event/0]).

-define(SERVER, ?MODULE).

-type event() :: up | down.
-type callback() :: fun(() -> term())
                  | fun((node()) -> term())
                  | fun((node(), #{event := event(), channels := [atom()]}) -> term()).

-record(state, {cnode :: {pid(), reference()} | undefined,
                up = #{} :: #{node() => true},
                callbacks = [] :: [{event(), node() | any, callback()}],
                subscribers = #{} :: #{pid() => {reference(), pos_integer()}}}).

-type state() :: #state{}.

%%====================================================================
%% API
%%====================================================================

-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?SERVER}, ?MODULE, [], []).

%% @doc Registers `Fun' to run each time `Node' (or any node) comes up.
-spec on_up(node() | any, callback()) -> ok | {error, not_running}.
on_up(Node, Fun) ->
    register_callback(up, Node, Fun).

%% @doc Registers `Fun' to run each time `Node' (or any node) goes down.
-spec on_down(node() | any, callback()) -> ok | {error, not_running}.
on_down(Node, Fun) ->
    register_callback(down, Node, Fun).

%% @doc Subscribes (`true') or unsubscribes (`false', every subscription
%% of `Pid') `Pid' to `{nodeup, Node}' / `{nodedown, Node}' messages.
-spec monitor_nodes(boolean(), pid()) -> ok | {error, not_running}.
monitor_nodes(Flag, Pid) when is_boolean(Flag), is_pid(Pid) ->
    call({monitor_nodes, Flag, Pid}).

%% @doc An event from the C-node (called by `partisan_cnode'; never blocks).
-spec node_event(event(), node()) -> ok.
node_event(Event, Node) when (Event =:= up orelse Event =:= down), is_atom(Node) ->
    gen_server:cast(?SERVER, {node_event, Event, Node}).

%% @doc The `partisan_cnode' server `Pid' started: when it stops, every
%% node up is reported down.
-spec cnode_started(pid()) -> ok.
cnode_started(Pid) when is_pid(Pid) ->
    gen_server:cast(?SERVER, {cnode_started, Pid}).

call(Request) ->
    try
        gen_server:call(?SERVER, Request, 10000)
    catch
        exit:{noproc, _} -> {error, not_running};
        exit:{normal, _} -> {error, not_running};
        exit:{shutdown, _} -> {error, not_running};
        exit:{{shutdown, _}, _} -> {error, not_running}
    end.

register_callback(Event, Node, Fun) when (is_atom(Node) orelse Node =:= any),
                                         is_function(Fun, 0);
                                         (is_atom(Node) orelse Node =:= any),
                                         is_function(Fun, 1);
                                         (is_atom(Node) orelse Node =:= any),
                                         is_function(Fun, 2) ->
    call({register, Event, Node, Fun}).

%%====================================================================
%% gen_server callbacks
%%====================================================================

-spec init([]) -> {ok, state()}.
init([]) ->
    %% Restarted while a partisan_cnode runs: take its current view.
    State = #state{cnode = monitor_cnode(whereis(?CNODE_SERVER), undefined)},
    Up = maps:from_list([{N, true} || N <- partisan_members:reachable(), N =/= node()]),
    {ok, State#state{up = Up}}.

-spec handle_call(term(), gen_server:from(), state()) -> {reply, term(), state()}.
handle_call({register, Event, Node, Fun}, _From, #state{callbacks = Cbs} = State) ->
    {reply, ok, State#state{callbacks = Cbs ++ [{Event, Node, Fun}]}};
handle_call({monitor_nodes, true, Pid}, _From, #state{subscribers = Subs} = State) ->
    Sub = case Subs of
              #{Pid := {MRef, Count}} -> {MRef, Count + 1};
              _ -> {erlang:monitor(process, Pid), 1}
          end,
    {reply, ok, State#state{subscribers = Subs#{Pid => Sub}}};
handle_call({monitor_nodes, false, Pid}, _From, #state{subscribers = Subs} = State) ->
    case maps:take(Pid, Subs) of
        {{MRef, _}, Rest} ->
            erlang:demonitor(MRef, [flush]),
            {reply, ok, State#state{subscribers = Rest}};
        error ->
            {reply, ok, State}
    end;
handle_call(Request, _From, State) ->
    {reply, {error, {bad_request, Request}}, State}.

-spec handle_cast(term(), state()) -> {noreply, state()}.
handle_cast({node_event, Event, Node}, State) ->
    {noreply, event(Event, Node, State)};
handle_cast({cnode_started, Pid}, #state{cnode = CNode} = State) ->
    {noreply, State#state{cnode = monitor_cnode(Pid, CNode)}};
handle_cast(Msg, State) ->
    ?LOG_WARNING(#{what => unexpected_cast, msg => Msg}),
    {noreply, State}.

-spec handle_info(term(), state()) -> {noreply, state()}.
handle_info({'DOWN', MRef, process, Pid, _Reason}, #state{cnode = {Pid, MRef}} = State) ->
    %% The C-node's server stopped: nothing is reachable any more.
    Down = lists:sort(maps:keys(State#state.up)),
    {noreply, lists:foldl(fun(N, S) -> event(down, N, S) end,
                          State#state{cnode = undefined}, Down)};
handle_info({'DOWN', MRef, process, Pid, _Reason}, #state{subscribers = Subs} = State) ->
    case Subs of
        #{Pid := {MRef, _}} -> {noreply, State#state{subscribers = maps:remove(Pid, Subs)}};
        _ -> {noreply, State}
    end;
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

%% Duplicate events (up when up, down when not up) are ignored, so every
%% subscriber sees nodeup and nodedown of a node alternate.
event(_Event, Node, State) when Node =:= node() ->
    State;
event(up, Node, #state{up = Up} = State) ->
    case Up of
        #{Node := _} -> State;
        _ -> dispatch(up, Node, State#state{up = Up#{Node => true}})
    end;
event(down, Node, #state{up = Up} = State) ->
    case maps:take(Node, Up) of
        {_, Rest} -> dispatch(down, Node, State#state{up = Rest});
        error -> State
    end.

dispatch(Event, Node, #state{callbacks = Cbs, subscribers = Subs} = State) ->
    Msg = case Event of
              up -> {nodeup, Node};
              down -> {nodedown, Node}
          end,
    maps:foreach(fun(Pid, {_, Count}) -> [Pid ! Msg || _ <- lists:seq(1, Count)] end, Subs),
    Matching = [Fun || {E, N, Fun} <- Cbs, E =:= Event, N =:= any orelse N =:= Node],
    case Matching of
        [] ->
            ok;
        _ ->
            Info = #{event => Event, channels => partisan:channels()},
            [proc_lib:spawn(fun() -> run(Fun, Event, Node, Info) end) || Fun <- Matching]
    end,
    State.

%% No catch: a crash ends this process with a crash report (proc_lib),
%% which shows this dictionary entry.
run(Fun, Event, Node, Info) ->
    put(partisan_node_callback, #{event => Event, node => Node}),
    if
        is_function(Fun, 0) -> Fun();
        is_function(Fun, 1) -> Fun(Node);
        is_function(Fun, 2) -> Fun(Node, Info)
    end.
