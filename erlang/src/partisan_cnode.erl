%% @private
%% @doc Owner of the C-node OS process (see docs/SHIM_INTERFACE.md).
%%
%% Loads the configuration (while partisan runs, the only place that
%% does; at every start, so a restarted C-node gets the current
%% environment), opens the port running `priv/partisan_cnode'
%% (`partisan_cnode_os'), which writes the secrets on its stdin, logs the
%% C-node's output lines with `logger' (parsed by `partisan_cnode_log'),
%% waits for `{'$partisan_ready', Addrs, [{Channel, LinkNode}]}', then
%% publishes the map `#{Channel => LinkNode}' (the C-node's BEAM link of
%% each channel) in `persistent_term' (`?LINKS_KEY') so that the data path
%% (`partisan:forward_message/3,4,5') sends straight from the calling
%% process to the link of its channel. Relays control calls (join, leave,
%% members, stats, fault injection; `partisan_cnode_calls') to the
%% C-node's main node name, and the C-node's events to `partisan_members'
%% (the member table), `partisan_monitor' (node up/down) and
%% `partisan_rejoin' (contacts).
%%
%% Waits are event-driven: the server subscribes to hidden node up/down
%% events (`net_kernel:monitor_nodes/2'). It opens the port only once the
%% links of an earlier C-node of this BEAM are gone (the new one takes the
%% same names), and reports ready only once every link of the new one is
%% a connected node. A link that goes down later means the C-node is
%% gone or lost a channel: the server stops and the supervisor restarts
%% it.
-module(partisan_cnode).

%% Over 400 lines on purpose: one job (the gen_server owning the C-node
%% port and its lifecycle); the pieces with a job of their own are in
%% partisan_cnode_log, _os, _links and _calls and partisan_members.
-behaviour(gen_server).

-include_lib("kernel/include/logger.hrl").
-include("partisan_internal.hrl").

%% API
-export([start_link/0,
         await_ready/1,
         control/1,
         status/0,
         node_spec/0,
         cnode_name/2,
         cleanup/0]).

%% gen_server callbacks
-export([init/1,
         handle_call/3,
         handle_cast/2,
         handle_info/2,
         terminate/2,
         code_change/3]).

%% How long the ready message waits for all links to show as connected.
-define(LINK_WAIT, 2000).
%% How long the links of an earlier C-node may take to go, at start and
%% in terminate/2.
-define(EXIT_WAIT, 3000).
%% How long after one of its links went down the C-node is given up.
-define(DISCONNECT_GRACE, 1000).

-type addr() :: {inet:ip_address(), inet:port_number()}.

-record(state, {port :: port() | undefined,
                os_pid :: non_neg_integer() | undefined,
                cnode :: node(),
                config :: partisan_config:config(),        % redacted
                %% Until the port is open: what opens it (holds the
                %% secrets, so a closure: a state dump shows no secret).
                opener :: fun(() -> {port(), non_neg_integer() | undefined})
                        | undefined,
                %% Waiting for the links of an earlier C-node to go (then
                %% `open') or for those of a ready message to connect.
                wait :: partisan_cnode_links:wait() | undefined,
                ready = false :: boolean(),
                ready_timer :: reference() | undefined,
                listen_addrs = [] :: [addr()],
                links = #{} :: #{atom() => node()},
                waiters = [] :: [gen_server:from()],
                calls = partisan_cnode_calls:new() :: partisan_cnode_calls:calls(),
                log = partisan_cnode_log:new() :: partisan_cnode_log:log()}).

-type state() :: #state{}.

%%====================================================================
%% API
%%====================================================================

-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?CNODE_SERVER}, ?MODULE, [], []).

%% @doc Waits until the C-node is ready (or failed to get ready, which the
%% server tells within its `ready_timeout').
-spec await_ready(timeout()) -> ok | {error, term()}.
await_ready(Timeout) ->
    safe_call(await_ready, Timeout).

%% @doc A control call relayed to the C-node (`{join, ...}', `leave',
%% `{leave, Node}', `members', `stats').
-spec control(term()) -> term().
control(Request) ->
    safe_call({control, Request}, ?CNODE_CALL_TIMEOUT + 5000).

%% @doc The C-node's name, OS pid, addresses, topology, channels, links.
-spec status() -> map() | {error, not_running}.
status() ->
    safe_call(status, 5000).

%% @doc This node's spec (see `partisan:node_spec/0').
-spec node_spec() -> map() | {error, not_running}.
node_spec() ->
    safe_call(node_spec, 5000).

%% @doc The C-node name for a BEAM node name and OS pid:
%% `partisan_<alive>_<os pid>@<host>'.
-spec cnode_name(node(), string()) -> node();
                (node(), non_neg_integer()) -> node().
cnode_name(Node, OsPid) when is_integer(OsPid) ->
    cnode_name(Node, integer_to_list(OsPid));
cnode_name(Node, OsPid) ->
    [Alive, Host] = string:split(atom_to_list(Node), "@"),
    list_to_atom("partisan_" ++ Alive ++ "_" ++ OsPid ++ "@" ++ Host).

%% @doc Erases what this server publishes in `persistent_term' (the
%% configuration parts outlive restarts of the server, so that
%% `partisan:channels/0' needs no reload): called once the application
%% stopped.
-spec cleanup() -> ok.
cleanup() ->
    _ = persistent_term:erase(?LINKS_KEY),
    _ = persistent_term:erase(?CHANNELS_KEY),
    _ = persistent_term:erase(?MAX_SIZE_KEY),
    ok.

safe_call(Request, Timeout) ->
    try
        gen_server:call(?CNODE_SERVER, Request, Timeout)
    catch
        exit:{noproc, _} -> {error, not_running};
        exit:{normal, _} -> {error, not_running};
        exit:{shutdown, _} -> {error, not_running};
        exit:{{shutdown, _}, _} -> {error, not_running};
        exit:{timeout, _} -> {error, timeout};
        exit:{Reason, _} -> {error, Reason}
    end.

%%====================================================================
%% gen_server callbacks
%%====================================================================

-spec init([]) -> {ok, state()} | {stop, term()}.
init([]) ->
    process_flag(trap_exit, true),
    %% A previous incarnation killed without terminate/2 may have left this.
    _ = persistent_term:erase(?LINKS_KEY),
    case node() of
        nonode@nohost ->
            {stop, not_distributed};
        Node ->
            case partisan_config:load() of
                {ok, Config} -> init(Node, Config);
                {error, Reason} -> {stop, Reason}
            end
    end.

init(Node, Config) ->
    case partisan_cnode_os:executable() of
        {ok, Path} ->
            %% Subscribed first, so that no nodeup/nodedown of a link is
            %% missed between a look at nodes(hidden) and the event.
            ok = net_kernel:monitor_nodes(true, [{node_type, hidden}]),
            CNode = cnode_name(Node, os:getpid()),
            Args = partisan_config:cnode_args(Config, Node, CNode),
            ok = partisan_members:cnode_started(self()),
            partisan_monitor:cnode_started(self()),
            persistent_term:put(?CHANNELS_KEY, partisan_config:channels(Config)),
            persistent_term:put(?MAX_SIZE_KEY, maps:get(max_message_size, Config)),
            partisan_cnode_os:warn_if_weak(Config),
            Opener = fun() ->
                             Secrets = partisan_config:secrets_input(erlang:get_cookie(), Config),
                             partisan_cnode_os:start(Path, Args, Secrets)
                     end,
            State = #state{cnode = CNode, config = partisan_config:redact(Config),
                           opener = Opener},
            %% The new C-node takes the names of an earlier one's links:
            %% those must be gone first.
            Previous = partisan_cnode_links:previous(CNode),
            {ok, await(partisan_cnode_links:await(down, Previous, ?EXIT_WAIT, open), State)};
        {error, Reason} ->
            {stop, Reason}
    end.

-spec handle_call(term(), gen_server:from(), state()) ->
          {reply, term(), state()} | {noreply, state()}.
handle_call(await_ready, _From, #state{ready = true} = State) ->
    {reply, ok, State};
handle_call(await_ready, From, #state{waiters = Waiters} = State) ->
    {noreply, State#state{waiters = [From | Waiters]}};
handle_call({control, _Request}, _From, #state{ready = false} = State) ->
    {reply, {error, not_running}, State};
handle_call({control, Request}, From, #state{cnode = CNode, calls = Calls0} = State) ->
    case partisan_cnode_calls:send(CNode, Request, From, Calls0) of
        {ok, Calls} -> {noreply, State#state{calls = Calls}};
        noconnect -> {reply, {error, not_running}, State}
    end;
handle_call(status, _From, #state{ready = false} = State) ->
    {reply, {error, not_running}, State};
handle_call(status, _From, State) ->
    #state{cnode = CNode, os_pid = OsPid, listen_addrs = Addrs, config = Config,
           links = Links} = State,
    Status = #{cnode => CNode,
               os_pid => OsPid,
               listen_addrs => addr_maps(Addrs),
               topology => maps:get(topology, Config),
               channels => partisan_config:channels(Config),
               links => Links},
    {reply, Status, State};
handle_call(node_spec, _From, #state{ready = false} = State) ->
    {reply, {error, not_running}, State};
handle_call(node_spec, _From, #state{listen_addrs = Addrs, config = Config} = State) ->
    Spec = #{name => node(),
             listen_addrs => addr_maps(Addrs),
             channels => partisan_config:channels(Config)},
    {reply, Spec, State};
handle_call(Request, _From, State) ->
    {reply, {error, {bad_request, Request}}, State}.

-spec handle_cast(term(), state()) -> {noreply, state()}.
handle_cast(Msg, State) ->
    ?LOG_WARNING(#{what => unexpected_cast, msg => Msg}),
    {noreply, State}.

-spec handle_info(term(), state()) -> {noreply, state()} | {stop, term(), state()}.
%% The port: output lines, exit.
handle_info({Port, {data, Data}}, #state{port = Port, log = Log0} = State) ->
    {Lines, Log} = partisan_cnode_log:data(Data, Log0),
    log_lines(Lines),
    {noreply, State#state{log = Log}};
handle_info({Port, {exit_status, Status}}, #state{port = Port, log = Log0} = State) ->
    {Lines, Log} = partisan_cnode_log:flush(Log0),
    log_lines(Lines),
    ?LOG_ERROR(#{what => cnode_exited, exit_status => Status, cnode => State#state.cnode,
                 last_output => partisan_cnode_log:last_lines(Log)}),
    Reason = {cnode_exit, Status},
    {stop, Reason, reply_waiters({error, Reason}, State#state{port = undefined, log = Log})};
handle_info({'EXIT', Port, Reason}, #state{port = Port} = State) ->
    ?LOG_ERROR(#{what => cnode_port_closed, reason => Reason, cnode => State#state.cnode}),
    {stop, {cnode_port_closed, Reason},
     reply_waiters({error, {cnode_port_closed, Reason}}, State#state{port = undefined})};
%% Start-up: the earlier C-node's links go, the new one gets ready. The
%% ready message comes on one link once the C-node connected all of them,
%% but this BEAM may register the last connections a moment after their
%% handshake: the server waits (bounded) for the nodeup of every link, so
%% that the first sends find it.
handle_info({'$partisan_ready', Addrs, LinkList},
            #state{cnode = CNode, opener = undefined} = State0)
  when is_list(Addrs), is_list(LinkList) ->
    Links = partisan_cnode_links:links(CNode, partisan_config:channels(State0#state.config),
                                       LinkList),
    State = case State0#state.ready of
                false ->
                    cancel_timer(State0#state.ready_timer),
                    State0#state{ready_timer = undefined};
                true ->
                    State0
            end,
    Wait = partisan_cnode_links:await(up, partisan_cnode_links:all(CNode, Links), ?LINK_WAIT,
                                      {ready, Addrs, Links}),
    {noreply, await(Wait, cancel_wait(State))};
handle_info({timeout, TRef, partisan_link_wait}, #state{wait = Wait} = State)
  when Wait =/= undefined ->
    case partisan_cnode_links:timeout(TRef, Wait) of
        {Nodes, Then} ->
            What = case Then of
                       open -> cnode_still_connected;
                       {ready, _, _} -> cnode_links_missing
                   end,
            ?LOG_WARNING(#{what => What, nodes => Nodes}),
            {noreply, then(Then, State#state{wait = undefined})};
        stale ->
            {noreply, State}
    end;
handle_info({timeout, TRef, ready_timeout}, #state{ready_timer = TRef, log = Log} = State) ->
    #{ready_timeout := Timeout} = State#state.config,
    ?LOG_ERROR(#{what => cnode_not_ready, timeout => Timeout, cnode => State#state.cnode,
                 last_output => partisan_cnode_log:last_lines(Log)}),
    Reason = {cnode_not_ready, Timeout},
    {stop, Reason, reply_waiters({error, Reason}, State#state{ready_timer = undefined})};
%% Hidden nodes (net_kernel:monitor_nodes/2): the C-node's links.
handle_info({nodeup, Node, _Info}, State) when is_atom(Node) ->
    {noreply, wait_event(up, Node, State)};
handle_info({nodedown, Node, _Info}, State) when is_atom(Node) ->
    link_down(Node, State),
    {noreply, wait_event(down, Node, State)};
handle_info({cnode_disconnected, Link}, #state{cnode = CNode, log = Log} = State) ->
    ?LOG_ERROR(#{what => cnode_disconnected, cnode => CNode, link => Link,
                 last_output => partisan_cnode_log:last_lines(Log)}),
    {stop, {cnode_disconnected, Link}, State};
%% The C-node's events.
handle_info({'$partisan_members', Members, Reachable}, State)
  when is_list(Members), is_list(Reachable) ->
    ok = partisan_members:set(Members, Reachable),
    {noreply, State};
handle_info({'$partisan_contacts', Contacts}, State) when is_list(Contacts) ->
    partisan_rejoin:contacts(Contacts),
    {noreply, State};
handle_info({'$partisan_nodeup', Node}, State) when is_atom(Node) ->
    ?LOG_INFO(#{what => nodeup, node => Node}),
    %% Reachable now; whether it is a member the members event tells.
    ok = partisan_members:node_up(Node),
    partisan_monitor:node_event(up, Node),
    {noreply, State};
handle_info({'$partisan_nodedown', Node}, State) when is_atom(Node) ->
    ?LOG_INFO(#{what => nodedown, node => Node}),
    ok = partisan_members:node_down(Node),
    partisan_monitor:node_event(down, Node),
    {noreply, State};
%% Answers to control calls.
handle_info({timeout, TRef, {call_timeout, Ref}}, #state{calls = Calls} = State) ->
    {noreply, State#state{calls = partisan_cnode_calls:timeout(Ref, TRef, Calls)}};
handle_info({Ref, Reply}, #state{calls = Calls} = State) when is_reference(Ref) ->
    {noreply, State#state{calls = partisan_cnode_calls:answer(Ref, Reply, Calls)}};
handle_info(Msg, State) ->
    ?LOG_WARNING(#{what => unexpected_message, msg => Msg}),
    {noreply, State}.

-spec terminate(term(), state()) -> ok.
terminate(_Reason, #state{port = Port, cnode = CNode, ready = Ready, links = Links}) ->
    _ = persistent_term:erase(?LINKS_KEY),
    case Port of
        undefined -> ok;
        _ -> catch port_close(Port)
    end,
    %% Closing the port closes the C-node's stdin, which makes it exit; wait
    %% a little for its links to go (their nodedown events) so that a
    %% restarted server and whoever looks at nodes(hidden) do not meet them.
    case Ready of
        true ->
            case partisan_cnode_links:await_gone(partisan_cnode_links:all(CNode, Links),
                                                 ?EXIT_WAIT) of
                [] -> ok;
                Nodes -> ?LOG_WARNING(#{what => cnode_still_connected, nodes => Nodes})
            end;
        false ->
            ok
    end.

-spec code_change(term(), state(), term()) -> {ok, state()}.
code_change(_OldVsn, State, _Extra) ->
    {ok, State}.

%%====================================================================
%% Internal
%%====================================================================

%% Starts the C-node and hands it the secrets; the ready timer runs from
%% here.
open(#state{opener = Opener, config = #{ready_timeout := ReadyTimeout}} = State) ->
    {Port, OsPid} = Opener(),
    TRef = erlang:start_timer(ReadyTimeout, self(), ready_timeout),
    State#state{port = Port, os_pid = OsPid, opener = undefined, ready_timer = TRef}.

await({done, Then}, State) ->
    then(Then, State);
await({wait, Wait}, State) ->
    State#state{wait = Wait}.

wait_event(_Event, _Node, #state{wait = undefined} = State) ->
    State;
wait_event(Event, Node, #state{wait = Wait} = State) ->
    await(partisan_cnode_links:event(Event, Node, Wait), State).

cancel_wait(#state{wait = undefined} = State) ->
    State;
cancel_wait(#state{wait = Wait} = State) ->
    partisan_cnode_links:cancel(Wait),
    State#state{wait = undefined}.

then(open, State) ->
    open(State);
then({ready, Addrs, Links}, State) ->
    links_ready(Addrs, Links, State).

links_ready(Addrs, Links, #state{cnode = CNode, ready = false} = State) ->
    persistent_term:put(?LINKS_KEY, Links),
    ?LOG_INFO(#{what => cnode_ready, cnode => CNode, listen_addrs => Addrs,
                links => Links, os_pid => State#state.os_pid}),
    partisan_rejoin:cnode_ready(),
    check_links(CNode, Links),
    reply_waiters(ok, State#state{ready = true, listen_addrs = Addrs, links = Links});
links_ready(Addrs, Links, #state{cnode = CNode, ready = true} = State) ->
    ?LOG_INFO(#{what => cnode_listen_addrs, listen_addrs => Addrs, links => Links}),
    case Links =:= State#state.links of
        true ->
            ok;
        false ->
            persistent_term:put(?LINKS_KEY, Links),
            check_links(CNode, Links)
    end,
    State#state{listen_addrs = Addrs, links = Links}.

%% A link still not connected once ready is as good as down.
check_links(CNode, Links) ->
    Hidden = nodes(hidden),
    [disconnected(L) || L <- partisan_cnode_links:all(CNode, Links),
                        not lists:member(L, Hidden)],
    ok.

%% A link of a ready C-node went down.
link_down(Node, #state{ready = true, cnode = CNode, links = Links}) ->
    case lists:member(Node, partisan_cnode_links:all(CNode, Links)) of
        true -> disconnected(Node);
        false -> ok
    end;
link_down(_Node, _State) ->
    ok.

%% Usually the C-node exited: its exit status follows, and says more. A
%% C-node that lost one of its links is restarted too (that link's
%% channel is dead without it).
disconnected(Link) ->
    _ = erlang:send_after(?DISCONNECT_GRACE, self(), {cnode_disconnected, Link}),
    ok.

log_lines(Lines) ->
    lists:foreach(fun(Line) ->
                          {Level, Text} = partisan_cnode_log:parse(Line),
                          ?LOG(Level, "partisan_cnode: ~ts", [Text])
                  end, Lines).

reply_waiters(Reply, #state{waiters = Waiters} = State) ->
    [gen_server:reply(From, Reply) || From <- lists:reverse(Waiters)],
    State#state{waiters = []}.

addr_maps(Addrs) ->
    [#{ip => Ip, port => Port} || {Ip, Port} <- Addrs].

cancel_timer(undefined) ->
    ok;
cancel_timer(TRef) ->
    _ = erlang:cancel_timer(TRef),
    ok.
