%% @doc Broadcast for handler modules written for riak_core or the
%% original partisan library (`riak_core_broadcast',
%% `partisan_plumtree_broadcast'): {@link broadcast/2} spreads a message
%% of a {@link partisan_plumtree_broadcast_handler} module to every node
%% of the cluster, where the module's `merge/2' takes it in.
%%
%% How it travels:
%% <ul>
%% <li>The tree. {@link broadcast/2} asks the handler for
%%     `{MessageId, Payload}' (`broadcast_data/1') and hands it to
%%     {@link partisan:broadcast/2}: the C-node's Plumtree carries it
%%     (eager push along a tree, IHAVE/GRAFT repair between C-nodes,
%%     duplicates dropped) to this server on every node. On every node
%%     but the origin the server calls `Mod:merge(MessageId, Payload)';
%%     the origin stored the message before broadcasting it, as in
%%     riak_core.</li>
%% <li>Lazy repair by the handlers. The server keeps the ids of the
%%     messages it sent and those `merge/2' took as new (the newest
%%     `broadcast_recent_size' per handler, for `broadcast_recent_age'
%%     ms). Every `broadcast_lazy_timer' ms it sends a digest of them
%%     (those old enough that the tree has had its chance to deliver and
%%     repair them: one lazy period plus the C-node's `lazy_tick_period'
%%     and `graft_timeout', {@link partisan_config:tree_repair_time/0})
%%     to a random other member; the member asks
%%     `Mod:is_stale(Id)' of each and pulls those its handler lacks from
%%     the sender, which answers with `Mod:graft(Id)' (`{ok, Payload}' is
%%     sent, `stale' and `{error, _}' are skipped), and merges them. This
%%     repairs what the tree cannot: a node that was away (its C-node
%%     restarted, a partition) while the message travelled, a payload the
%%     C-node no longer caches, a handler that lost data. What was
%%     merged as new is announced on in turn.</li>
%% <li>Anti-entropy. Every `broadcast_exchange_timer' ms, for each module
%%     of `broadcast_mods' (in random order), while fewer than
%%     `broadcast_max_concurrent_exchanges' exchanges run, the server
%%     calls `Mod:exchange(Peer)' for a random other member and monitors
%%     the process it returns ({@link exchanges/0},
%%     {@link cancel_exchanges/1}).</li>
%% </ul>
%% Members are those of {@link partisan:members/0} (under
%% `peer_to_peer', the active view: digests travel between neighbours
%% and repairs spread hop by hop); messages between servers go with
%% {@link partisan:forward_message/3}, on the default channel.
%%
%% Differences from riak_core: the C-node's Plumtree decides the relaying
%% and suppresses duplicates by its own ids, so `merge/2' returning
%% `false' does not prune the tree; `is_stale/1' and `graft/1' drive the
%% handler-level lazy repair above. Handler callbacks run in this server
%% (but `broadcast_data/1', in the caller); an exception in one is
%% caught and logged. The server outlives restarts of the C-node (it is
%% a sibling of `partisan_cnode' under `partisan_sup').
%%
%% Options (application env, checked by {@link
%% partisan_config:broadcast_options/0}): `broadcast_lazy_timer' (1000
%% ms), `broadcast_exchange_timer' (10000 ms),
%% `broadcast_max_concurrent_exchanges' (1), `broadcast_mods' (`[]'),
%% `broadcast_recent_size' (1000), `broadcast_recent_age' (60000 ms).
-module(partisan_plumtree_broadcast).
-behaviour(gen_server).

-include_lib("kernel/include/logger.hrl").

%% API
-export([start_link/0,
         broadcast/2,
         broadcast_members/0,
         exchanges/0,
         cancel_exchanges/1]).

%% gen_server callbacks
-export([init/1,
         handle_call/3,
         handle_cast/2,
         handle_info/2,
         terminate/2,
         code_change/3]).

-define(SERVER, ?MODULE).
%% Between the servers of the nodes (all sent to ?SERVER):
%% {?BROADCAST, Origin, Mod, Id, Payload}: a broadcast, by the C-node's tree;
-define(BROADCAST, '$partisan_plumtree').
%% {?IHAVE, From, Mod, [Id]}: a digest of what From delivered lately;
-define(IHAVE, '$partisan_plumtree_ihave').
%% {?GRAFT, From, Mod, [Id]}: the ids of a digest From's handler lacks;
-define(GRAFT, '$partisan_plumtree_graft').
%% {?REPAIR, From, Mod, Id, Payload}: one of them.
-define(REPAIR, '$partisan_plumtree_repair').

-record(state, {lazy_timer :: pos_integer(),
                exchange_timer :: pos_integer(),
                max_exchanges :: pos_integer(),
                mods :: [module()],
                %% How old an id must be to be in a digest (ms): one lazy
                %% period after the C-node's tree could have repaired it.
                digest_age :: pos_integer(),
                recent :: partisan_plumtree_recent:recent(),
                exchanges = partisan_plumtree_exchanges:new()
                    :: partisan_plumtree_exchanges:exchanges()}).

-type state() :: #state{}.

%%====================================================================
%% API
%%====================================================================

%% @private
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?SERVER}, ?MODULE, [], []).

%% @doc Broadcasts `Broadcast' of the handler `Mod': sends
%% `Mod:broadcast_data(Broadcast)' (called here, in the caller) to every
%% node of the cluster, where `Mod:merge/2' takes it in (but on this
%% node, where the handler has stored it already). Returns `ok' once the
%% C-node took it (a control call, as {@link partisan:broadcast/2}). When
%% the C-node cannot take it now (not running, restarting) the failure
%% is logged and the message is left to the lazy repair, which offers it
%% to the members for `broadcast_recent_age' ms; a message over
%% `max_message_size' is logged and dropped.
-spec broadcast(term(), module()) -> ok.
broadcast(Broadcast, Mod) when is_atom(Mod) ->
    {Id, Payload} = Mod:broadcast_data(Broadcast),
    case partisan:broadcast(?SERVER, {?BROADCAST, node(), Mod, Id, Payload}) of
        ok ->
            remember(Mod, Id);
        {error, {too_large, _, _} = Reason} ->
            ?LOG_WARNING(#{what => broadcast_dropped, handler => Mod, id => Id,
                           reason => Reason});
        {error, Reason} ->
            ?LOG_NOTICE(#{what => broadcast_deferred, handler => Mod, id => Id,
                          reason => Reason}),
            remember(Mod, Id)
    end,
    ok.

%% @doc The nodes a broadcast reaches directly: {@link partisan:members/0}
%% (sorted, this node included; under `peer_to_peer' the active view,
%% beyond which the tree carries broadcasts).
-spec broadcast_members() -> [node()].
broadcast_members() ->
    partisan:members().

%% @doc The anti-entropy exchanges running: `{Mod, Peer, MonitorRef,
%% Pid}', newest first.
-spec exchanges() -> [partisan_plumtree_exchanges:exchange()].
exchanges() ->
    gen_server:call(?SERVER, exchanges).

%% @doc Kills the processes of the exchanges running that `Which'
%% selects (`all', `{peer, Node}', `{mod, Mod}', a monitor reference or a
%% pid) and returns them, as {@link exchanges/0} listed them.
-spec cancel_exchanges(partisan_plumtree_exchanges:selector()) ->
          [partisan_plumtree_exchanges:exchange()].
cancel_exchanges(Which) ->
    gen_server:call(?SERVER, {cancel_exchanges, Which}).

%%====================================================================
%% gen_server callbacks
%%====================================================================

%% @private
-spec init([]) -> {ok, state()} | {stop, term()}.
init([]) ->
    case partisan_config:broadcast_options() of
        {ok, #{broadcast_lazy_timer := Lazy, broadcast_exchange_timer := Exchange,
               broadcast_max_concurrent_exchanges := Max, broadcast_mods := Mods,
               broadcast_recent_size := Size, broadcast_recent_age := Age}} ->
            %% The first ticks at a random point of their period, so that
            %% the nodes' ticks do not line up.
            erlang:send_after(rand:uniform(Lazy), self(), lazy_tick),
            erlang:send_after(rand:uniform(Exchange), self(), exchange_tick),
            {ok, #state{lazy_timer = Lazy, exchange_timer = Exchange, max_exchanges = Max,
                        mods = Mods, digest_age = Lazy + partisan_config:tree_repair_time(),
                        recent = partisan_plumtree_recent:new(Size, Age)}};
        {error, Reason} ->
            {stop, Reason}
    end.

%% @private
-spec handle_call(term(), gen_server:from(), state()) -> {reply, term(), state()}.
handle_call(exchanges, _From, #state{exchanges = Exchanges} = State) ->
    {reply, partisan_plumtree_exchanges:list(Exchanges), State};
handle_call({cancel_exchanges, Which}, _From, #state{exchanges = Exchanges} = State) ->
    {Cancelled, Rest} = partisan_plumtree_exchanges:cancel(Which, Exchanges),
    {reply, Cancelled, State#state{exchanges = Rest}};
handle_call(Request, _From, State) ->
    {reply, {error, {bad_request, Request}}, State}.

%% @private
-spec handle_cast(term(), state()) -> {noreply, state()}.
handle_cast({sent, Mod, Id}, State) ->
    {noreply, record(Mod, Id, State)};
handle_cast(Msg, State) ->
    ?LOG_WARNING(#{what => unexpected_cast, msg => Msg}),
    {noreply, State}.

%% @private
-spec handle_info(term(), state()) -> {noreply, state()}.
%% A broadcast, by the C-node's tree (this node's own too).
handle_info({?BROADCAST, Origin, Mod, Id, _Payload}, State)
  when Origin =:= node(), is_atom(Mod) ->
    {noreply, record(Mod, Id, State)};
handle_info({?BROADCAST, Origin, Mod, Id, Payload}, State)
  when is_atom(Origin), is_atom(Mod) ->
    {noreply, merge(Mod, Id, Payload, State)};
%% The lazy repair: digests, what they lack, the answers.
handle_info({?IHAVE, From, Mod, Ids}, State) when is_atom(From), is_atom(Mod) ->
    case proper_list(Ids) of
        true -> ihave(From, Mod, Ids);
        false -> ?LOG_WARNING(#{what => broadcast_bad_digest, from => From, ids => Ids})
    end,
    {noreply, State};
handle_info({?GRAFT, From, Mod, Ids}, State) when is_atom(From), is_atom(Mod) ->
    case proper_list(Ids) of
        true -> graft(From, Mod, Ids);
        false -> ?LOG_WARNING(#{what => broadcast_bad_graft, from => From, ids => Ids})
    end,
    {noreply, State};
handle_info({?REPAIR, From, Mod, Id, Payload}, State) when is_atom(From), is_atom(Mod) ->
    {noreply, merge(Mod, Id, Payload, State)};
handle_info(lazy_tick, #state{lazy_timer = Lazy, digest_age = MinAge,
                              recent = Recent0} = State) ->
    Now = erlang:monotonic_time(millisecond),
    Recent = partisan_plumtree_recent:expire(Now, Recent0),
    case {partisan_plumtree_recent:digest(Now, MinAge, Recent), peers()} of
        {[_ | _] = Digests, [_ | _] = Peers} ->
            Peer = pick(Peers),
            [send(Peer, {?IHAVE, node(), Mod, Ids}) || {Mod, Ids} <- Digests];
        _ ->
            ok
    end,
    erlang:send_after(Lazy, self(), lazy_tick),
    {noreply, State#state{recent = Recent}};
handle_info(exchange_tick, #state{exchange_timer = Timer, mods = Mods, max_exchanges = Max,
                                  exchanges = Exchanges} = State) ->
    erlang:send_after(Timer, self(), exchange_tick),
    {noreply, State#state{exchanges = partisan_plumtree_exchanges:start(Mods, peers(), Max,
                                                                       Exchanges)}};
handle_info({'DOWN', Ref, process, Pid, Reason} = Msg, #state{exchanges = Exchanges} = State) ->
    case partisan_plumtree_exchanges:down(Ref, Pid, Reason, Exchanges) of
        {ok, Rest} ->
            {noreply, State#state{exchanges = Rest}};
        error ->
            ?LOG_WARNING(#{what => unexpected_message, msg => Msg}),
            {noreply, State}
    end;
handle_info(Msg, State) ->
    ?LOG_WARNING(#{what => unexpected_message, msg => Msg}),
    {noreply, State}.

%% @private
-spec terminate(term(), state()) -> ok.
terminate(_Reason, _State) ->
    ok.

%% @private
-spec code_change(term(), state(), term()) -> {ok, state()}.
code_change(_OldVsn, State, _Extra) ->
    {ok, State}.

%%====================================================================
%% Internal
%%====================================================================

remember(Mod, Id) ->
    gen_server:cast(?SERVER, {sent, Mod, Id}).

record(Mod, Id, #state{recent = Recent} = State) ->
    Now = erlang:monotonic_time(millisecond),
    State#state{recent = partisan_plumtree_recent:add(Mod, Id, Now, Recent)}.

%% A message from another node: the handler decides whether it is new.
merge(Mod, Id, Payload, State) ->
    case partisan_plumtree_broadcast_handler:call(Mod, merge, [Id, Payload]) of
        {ok, true} ->
            record(Mod, Id, State);
        {ok, false} ->
            State;
        {ok, Other} ->
            ?LOG_WARNING(#{what => broadcast_handler_bad_return, handler => Mod,
                           callback => {merge, 2}, returned => Other}),
            State;
        error ->
            State
    end.

%% A digest from `From': pull what the handler lacks.
ihave(From, Mod, Ids) ->
    case [Id || Id <- Ids, lacks(Mod, Id)] of
        [] -> ok;
        Lacking -> send(From, {?GRAFT, node(), Mod, Lacking})
    end.

lacks(Mod, Id) ->
    case partisan_plumtree_broadcast_handler:call(Mod, is_stale, [Id]) of
        {ok, Stale} when is_boolean(Stale) ->
            not Stale;
        {ok, Other} ->
            ?LOG_WARNING(#{what => broadcast_handler_bad_return, handler => Mod,
                           callback => {is_stale, 1}, returned => Other}),
            false;
        error ->
            false
    end.

%% `From' lacks these: send what the handler still has.
graft(From, Mod, Ids) ->
    lists:foreach(
      fun(Id) ->
              case partisan_plumtree_broadcast_handler:call(Mod, graft, [Id]) of
                  {ok, {ok, Payload}} ->
                      send(From, {?REPAIR, node(), Mod, Id, Payload});
                  {ok, stale} ->
                      graft_skipped(Mod, Id, From, stale);
                  {ok, {error, _} = Error} ->
                      graft_skipped(Mod, Id, From, Error);
                  {ok, Other} ->
                      ?LOG_WARNING(#{what => broadcast_handler_bad_return, handler => Mod,
                                     callback => {graft, 1}, returned => Other});
                  error ->
                      ok
              end
      end, Ids).

graft_skipped(Mod, Id, From, Returned) ->
    ?LOG_DEBUG(#{what => broadcast_graft_skipped, handler => Mod, id => Id, for => From,
                 returned => Returned}).

send(Node, Msg) ->
    case partisan:forward_message(Node, ?SERVER, Msg) of
        ok ->
            ok;
        {error, {too_large, _, _} = Reason} ->
            ?LOG_WARNING(#{what => broadcast_repair_not_sent, to => Node,
                           msg => element(1, Msg), reason => Reason});
        {error, Reason} ->
            %% The member went away meanwhile, the C-node restarts: the
            %% next digest tries again.
            ?LOG_DEBUG(#{what => broadcast_repair_not_sent, to => Node,
                         msg => element(1, Msg), reason => Reason})
    end.

peers() ->
    partisan:members() -- [node()].

pick(List) ->
    lists:nth(rand:uniform(length(List)), List).

proper_list(L) when is_list(L) ->
    try length(L) of
        _ -> true
    catch
        error:badarg -> false
    end;
proper_list(_) ->
    false.
