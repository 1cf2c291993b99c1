%% What the links of the peer_to_peer topology carry, end to end, with
%% real BEAM nodes (OTP `peer') and real C-nodes, small views (?P2P_ENV):
%%
%% - channels (parallelism, partition keys, a monotonic channel) on an
%%   active-view link behave as under full mesh, and on a relayed route a
%%   channel's messages keep their channel and their order;
%% - on_up/on_down and monitor_nodes follow the active view: a join, a
%%   DISCONNECT when a full view makes room, a neighbour killed;
%% - an authenticated peer (partisan_raw_peer, holding the cluster secret)
%%   sending malformed HYPARVIEW and PLUMTREE frames gets that connection
%%   closed, floods stay within the bounds, the C-node is not restarted,
%%   the views stay within their sizes and the node goes on working.
%%
%% Run from the top of the repository:
%%   rebar3 ct --dir test/ct --suite partisan_peer_to_peer_links_SUITE
-module(partisan_peer_to_peer_links_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-import(partisan_ct_helpers, [active_views/1, reachable/2, call/4, call/5, node_name/1, names/1, wait_until/4,
                              os_pid_alive/1]).

-export([all/0, suite/0,
         init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).

-export([channels_on_active_link/1,
         channels_relayed/1,
         node_events_follow_active_view/1,
         bad_hyparview_frames/1,
         bad_plumtree_frames/1,
         neighbour_floods/1,
         made_up_origins_leave_no_state/1]).

%% Run on the peers.
-export([events_start/0, events_get/0]).

-define(WAIT, 30000).
-define(P2P_ENV, [{topology, peer_to_peer},
                  {max_active_size, 3},
                  {max_passive_size, 8},
                  {arwl, 3},
                  {prwl, 1},
                  {shuffle_interval, 2000},
                  {random_promotion_interval, 1000},
                  {announce_interval, 1000},
                  {heartbeat_interval, 300},
                  {heartbeat_timeout, 1500}]).
-define(MAX_ACTIVE, 3).
-define(CHANNELS, #{vnode => #{parallelism => 4},
                    bulk => #{},
                    gossip => #{monotonic => true}}).
-define(ALL_CHANNELS, [bulk, gossip, undefined, vnode]).
-define(EXPECTED_CONNECTIONS, #{undefined => 1, vnode => 4, bulk => 1, gossip => 1}).
%% The sink and senders of partisan_channels_SUITE, run on the peers.
-define(CH, partisan_channels_SUITE).
-define(MALLORY, <<"mallory@127.0.0.1">>).
-define(SPEC, <<"undefined:1">>).  % the channels of a node configured with none
-define(EVENTS, partisan_p2p_events).
-define(COLLECTOR, partisan_p2p_links_collector).
%% Plumtree's bound on IHAVE announcements pending (plumtree.hpp).
-define(MAX_PENDING, 10000).
%% What a shuffle sample holds at most here: self, shuffle_k_active (3),
%% shuffle_k_passive (4).
-define(SAMPLE_CAP, 8).

all() ->
    [channels_on_active_link,
     channels_relayed,
     node_events_follow_active_view,
     bad_hyparview_frames,
     bad_plumtree_frames,
     neighbour_floods,
     made_up_origins_leave_no_state].

suite() ->
    [{timetrap, {minutes, 4}}].

init_per_suite(Config) ->
    partisan_ct_helpers:init_suite(Config).

end_per_suite(_Config) ->
    ok.

init_per_testcase(_Case, Config) ->
    Config.

end_per_testcase(_Case, Config) ->
    Started = case get(started_nodes) of undefined -> []; Ns -> Ns end,
    erase(started_nodes),
    [os:cmd("kill -CONT " ++ integer_to_list(P)) || #{cnode_os_pid := P} <- Started],
    case get(listener) of
        undefined -> ok;
        Listener -> erase(listener), partisan_raw_peer:stop_listener(Listener)
    end,
    _ = Config,
    partisan_ct_helpers:stop_nodes(Started).

%%--------------------------------------------------------------------
%% Channels
%%--------------------------------------------------------------------

%% An active-view link carries every channel on its own connections, as
%% under full mesh (partisan_channels_SUITE): 1 + 4 + 1 + 1 TCP
%% connections to the neighbour, none to a non-neighbour; 8 senders with
%% partition keys on vnode (parallelism 4) get FIFO per (sender, key),
%% every message, and each of the four connections a share of the bytes;
%% the monotonic channel gossip, with the neighbour's C-node stopped for
%% 1.5 s, delivers the last of 20,000 values in order and drops most.
channels_on_active_link(Config) ->
    %% A 1.5 s stall must not count as a failure here.
    Nodes = start_nodes(5, env([{channels, ?CHANNELS}, {heartbeat_timeout, 10000}]), Config),
    partisan_ct_helpers:join_random(Nodes, {5, 7}),
    wait_connected(Nodes),
    Views = active_views(Nodes),
    {A, B} = active_pair(Nodes, Views),
    [NA, NB] = [node_name(A), node_name(B)],
    ct:pal("active link ~p -> ~p; views ~p", [NA, NB, Views]),
    [wait_channel_connections(N) || N <- [A, B]],
    Sockets0 = peer_sockets(A, B),
    ?assertEqual(7, map_size(Sockets0)),
    %% FIFO per (sender, partition key) on vnode, the keys spread over its connections.
    Senders = 8,
    PerSender = 2500,
    Total = Senders * PerSender,
    {ok, _} = call(B, ?CH, sink_start, [fifo_sink]),
    {Results, SendMs} = call(A, ?CH, fifo_send, [NB, fifo_sink, Senders, PerSender, vnode], 120000),
    ?assertEqual(lists:duplicate(Senders, ok), Results),
    Final = wait_until("all vnode messages on b",
                       fun() -> call(B, ?CH, sink_query, [fifo_sink]) end,
                       fun(#{count := C, violations := V}) -> C >= Total orelse V =/= [] end, 60000),
    ct:log("~b messages sent in ~b ms; sink: ~p", [Total, SendMs, maps:without([streams], Final)]),
    ?assertEqual([], maps:get(violations, Final)),
    ?assertEqual(Total, maps:get(count, Final)),
    ?assertEqual(Senders * 6, maps:size(maps:get(streams, Final))),
    StatsA = call(A, partisan, stats, []),
    ?assert(stat(StatsA, NB, vnode, messages_sent) >= Total),
    ?assert(stat(StatsA, NB, undefined, messages_sent) < Total div 10),
    Sockets1 = peer_sockets(A, B),
    ?assertEqual(lists:sort(maps:keys(Sockets0)), lists:sort(maps:keys(Sockets1))),
    Deltas = lists:reverse(lists:sort([Sent - maps:get(P, Sockets0)
                                       || {P, Sent} <- maps:to_list(Sockets1)])),
    ct:log("bytes per connection a -> b: ~p", [Deltas]),
    Sum = lists:sum(Deltas),
    [?assert(D >= Sum div 10) || D <- lists:sublist(Deltas, 4)],
    %% Monotonic: b's C-node stalls, a's queue keeps only the newest.
    N = 20000,
    {ok, _} = call(B, ?CH, sink_start, [mono_sink]),
    #{cnode_os_pid := PidB} = B,
    try
        _ = os:cmd("kill -STOP " ++ integer_to_list(PidB)),
        ok = call(A, ?CH, mono_send_start, [NB, mono_sink, N, gossip, 4096]),
        timer:sleep(1500)
    after
        _ = os:cmd("kill -CONT " ++ integer_to_list(PidB))
    end,
    ?assertMatch({ok, _}, wait_until("a's monotonic sender to finish",
                                     fun() -> call(A, ?CH, mono_send_result, []) end,
                                     fun(R) -> R =/= pending end, 30000)),
    Mono = wait_until("the last value on b",
                      fun() -> call(B, ?CH, sink_query, [mono_sink]) end,
                      fun(#{streams := St, violations := V}) ->
                              V =/= [] orelse maps:get(last, maps:get(mono, St, #{last => 0})) =:= N
                      end, 30000),
    timer:sleep(500),
    ?assertEqual(Mono, call(B, ?CH, sink_query, [mono_sink])),
    #{count := Count, violations := Violations} = Mono,
    Dropped = stat(call(A, partisan, stats, []), NB, gossip, dropped),
    ct:log("monotonic: ~b of ~b delivered, ~b dropped on a", [Count, N, Dropped]),
    ?assertEqual([], Violations),
    ?assert(Count =< N div 2),
    ?assert(Dropped > 0),
    ?assert(Dropped + Count =< N),
    %% The link held through all of it.
    ?assert(lists:member(NB, maps:get(active, call(A, partisan, views, [])))),
    ?assertEqual(?EXPECTED_CONNECTIONS, maps:get(NB, call(A, partisan, connections, []))),
    ok.

%% A node that is no neighbour gets messages on every channel, relayed:
%% each arrives on its own channel at the destination (its counters move,
%% from a neighbour of the destination, never from the sender), and,
%% while the route stays the same, messages from one sender with one key
%% on one channel arrive in order (README, Ordering (relayed messages)).
channels_relayed(Config) ->
    %% Fewer announcements, fewer chances for a route to change meanwhile.
    Nodes = start_nodes(5, env([{channels, ?CHANNELS}, {heartbeat_timeout, 10000},
                                {announce_interval, 3000}]), Config),
    partisan_ct_helpers:join_random(Nodes, {5, 7}),
    wait_connected(Nodes),
    Views = active_views(Nodes),
    {From, To} = non_neighbours(Nodes, Views),
    [NFrom, NTo] = [node_name(From), node_name(To)],
    ct:pal("relaying ~p -> ~p; views ~p", [NFrom, NTo, Views]),
    S = partisan_test_server,
    wait_routes(From, To),
    StatsTo0 = call(To, partisan, stats, []),
    [?assertMatch({{ok, #{from := NTo, same := true}}, _},
                  {call(From, S, roundtrip, [NTo, How, {on, How}, 10000]), How})
     || Ch <- ?ALL_CHANNELS,
        How <- [{fwd4, S, #{channel => Ch}},
                {fwd5, Ch, S, #{partition_key => 7}}]],
    StatsTo1 = call(To, partisan, stats, []),
    [begin
         Received = lists:sum([delta(StatsTo1, StatsTo0, P, Ch, messages_received)
                               || P <- maps:keys(StatsTo1)]),
         ?assert(Received >= 2, {too_few_on, Ch, Received}),
         ?assertEqual(0, delta(StatsTo1, StatsTo0, NFrom, Ch, messages_received))
     end || Ch <- [vnode, bulk, gossip]],
    %% FIFO per (sender, key) over the relayed route, while it holds.
    Senders = 4,
    PerSender = 2500,
    Total = Senders * PerSender,
    {ok, _} = call(To, ?CH, sink_start, [relay_sink]),
    StatsFrom0 = call(From, partisan, stats, []),
    {Results, _} = call(From, ?CH, fifo_send, [NTo, relay_sink, Senders, PerSender, vnode], 120000),
    ?assertEqual(lists:duplicate(Senders, ok), Results),
    Final = wait_until("all relayed vnode messages",
                       fun() -> call(To, ?CH, sink_query, [relay_sink]) end,
                       fun(#{count := C, violations := V}) -> C >= Total orelse V =/= [] end, 60000),
    StatsFrom1 = call(From, partisan, stats, []),
    FirstHops = [{P, D} || P <- maps:keys(StatsFrom1),
                           (D = delta(StatsFrom1, StatsFrom0, P, vnode, messages_sent)) > 0],
    ct:log("first hops of the relayed stream: ~p; sink: ~p",
           [FirstHops, maps:without([streams], Final)]),
    %% The route stayed the same: one first hop (a neighbour) carried them all.
    ?assertMatch([{_, Total}], FirstHops),
    [{Via, _}] = FirstHops,
    ?assert(lists:member(Via, maps:get(active, call(From, partisan, views, [])))),
    ?assertEqual([], maps:get(violations, Final)),
    ?assertEqual(Total, maps:get(count, Final)),
    ?assertEqual(Senders * 6, maps:size(maps:get(streams, Final))),
    ok.

%%--------------------------------------------------------------------
%% Node events
%%--------------------------------------------------------------------

%% monitor_nodes and on_up/on_down report the active view: at every
%% quiet moment each node's nodeup/nodedown history (and, separately, its
%% callbacks' history) leaves exactly its active view up, which is also
%% members() less itself. A new node joining a node whose active view is
%% full makes it DISCONNECT a neighbour: both ends report the other down.
%% A killed node is reported down by each node that had it as a neighbour.
node_events_follow_active_view(Config) ->
    Nodes = start_nodes(5, env([]), Config),
    [ok = call(N, ?MODULE, events_start, []) || N <- Nodes],
    partisan_ct_helpers:join_random(Nodes, {5, 7}),
    wait_connected(Nodes),
    [wait_events_match_view(N) || N <- Nodes],
    %% A node whose active view is full (random promotions fill them).
    Y = wait_until("a node with a full active view",
                   fun() -> [N || N <- Nodes, length(active(N)) =:= ?MAX_ACTIVE] end,
                   fun(Full) -> Full =/= [] end, ?WAIT),
    [FullY | _] = Y,
    NY = node_name(FullY),
    Before = active(FullY),
    DownsBefore = maps:from_list([{V, count_events(nodedown, NY, events(node_by_name(V, Nodes)))}
                                  || V <- Before]),
    EventsY0 = events(FullY),
    YDownsBefore = maps:from_list([{V, count_events(nodedown, V, EventsY0)} || V <- Before]),
    YCbBefore = maps:from_list([{V, count_cb_down(V, EventsY0)} || V <- Before]),
    F = start_node(6, env([]), Config),
    ok = call(F, ?MODULE, events_start, []),
    NF = node_name(F),
    ?assertEqual(ok, call(F, partisan, join, [call(FullY, partisan, node_spec, [])])),
    After = wait_until("the joiner in the full view",
                       fun() -> active(FullY) end,
                       fun(Act) -> lists:member(NF, Act) end, ?WAIT),
    Evicted = Before -- After,
    ct:pal("~p had ~p, took ~p in, dropped ~p", [NY, Before, NF, Evicted]),
    ?assertNotEqual([], Evicted),
    [begin
         wait_until(io_lib:format("~p to report ~p down (it made room)", [NY, V]),
                    fun() -> events(FullY) end,
                    fun(Ev) -> count_events(nodedown, V, Ev) > maps:get(V, YDownsBefore)
                                   andalso count_cb_down(V, Ev) > maps:get(V, YCbBefore) end, ?WAIT),
         wait_until(io_lib:format("~p to report ~p down (DISCONNECT)", [V, NY]),
                    fun() -> count_events(nodedown, NY, events(node_by_name(V, Nodes))) end,
                    fun(C) -> C > maps:get(V, DownsBefore) end, ?WAIT)
     end || V <- Evicted],
    All = Nodes ++ [F],
    put(started_nodes, All),
    wait_connected(All),
    [wait_events_match_view(N) || N <- All],
    %% Kill a node that is some node's neighbour (BEAM and C-node, SIGKILL).
    Views = active_views(All),
    [K | _] = [N || N <- All, N =/= F, N =/= FullY, active(N) =/= []],
    NK = node_name(K),
    HadK = [N || N <- All, lists:member(NK, proplists:get_value(node_name(N), Views))],
    ?assertNotEqual([], HadK),
    DownsK = maps:from_list([{node_name(N), {count_events(nodedown, NK, Ev), count_cb_down(NK, Ev)}}
                             || N <- HadK, Ev <- [events(N)]]),
    #{cnode_os_pid := CK, os_pid := BK} = K,
    os:cmd("kill -9 " ++ integer_to_list(CK) ++ " " ++ integer_to_list(BK)),
    Alive = All -- [K],
    put(started_nodes, Alive),
    [wait_until(io_lib:format("~p to report ~p down", [node_name(N), NK]),
                fun() -> events(N) end,
                fun(Ev) ->
                        {Downs, Cbs} = maps:get(node_name(N), DownsK),
                        count_events(nodedown, NK, Ev) > Downs andalso count_cb_down(NK, Ev) > Cbs
                end, ?WAIT)
     || N <- HadK],
    wait_connected(Alive),
    [wait_events_match_view(N) || N <- Alive],
    [?assertNot(lists:member(NK, active(N))) || N <- Alive],
    ok.

%% Waits until N's events leave exactly its active view up, as its
%% members() says too; nodeup and nodedown alternate per node.
wait_events_match_view(N) ->
    Self = node_name(N),
    {Active, _, _, _} =
        wait_until(io_lib:format("events on ~p to match its active view", [Self]),
                   fun() ->
                           Act = active(N),
                           Ev = events(N),
                           {Act, up_set(Ev), callback_up_set(Ev), call(N, partisan, members, [])}
                   end,
                   fun({Act, Up, CbUp, Members}) ->
                           Act =:= Up andalso Act =:= CbUp andalso Members =:= lists:sort([Self | Act])
                   end, ?WAIT),
    Ev = events(N),
    [?assert(alternates([E || {E, X} <- Ev, X =:= Node, E =:= nodeup orelse E =:= nodedown], nodeup))
     || Node <- lists:usort([X || {E, X} <- Ev, E =:= nodeup orelse E =:= nodedown])],
    Active.

%% The nodes up after the monitor_nodes messages Events, in order.
up_set(Events) ->
    lists:sort(maps:keys(lists:foldl(fun({nodeup, X}, Up) -> Up#{X => true};
                                        ({nodedown, X}, Up) -> maps:remove(X, Up);
                                        (_, Up) -> Up
                                     end, #{}, Events))).

%% The nodes whose on_up callbacks outnumber their on_down ones (each
%% callback runs in a process of its own, so they are counted, not ordered).
callback_up_set(Events) ->
    Count = lists:foldl(fun({cb, up, X}, M) -> maps:update_with(X, fun(C) -> C + 1 end, 1, M);
                           ({cb, down, X, _}, M) -> maps:update_with(X, fun(C) -> C - 1 end, -1, M);
                           (_, M) -> M
                        end, #{}, Events),
    lists:sort([X || {X, 1} <- maps:to_list(Count)]).

alternates([], _) -> true;
alternates([E | Rest], E) -> alternates(Rest, case E of nodeup -> nodedown; nodedown -> nodeup end);
alternates(_, _) -> false.

count_events(Kind, Node, Events) ->
    length([x || {K, X} <- Events, K =:= Kind, X =:= Node]).

%% on_down callbacks run for Node (the arity 2 fun is told the event).
count_cb_down(Node, Events) ->
    length([x || {cb, down, X, down} <- Events, X =:= Node]).

%%--------------------------------------------------------------------
%% Bad input from an authenticated peer
%%--------------------------------------------------------------------

%% Malformed HYPARVIEW frames close the connection they came on; frames
%% that are well formed but name someone else, or answer nothing asked,
%% are ignored (the connection stays, the views do not change); a
%% FORWARD_JOIN with TTL 255 and a SHUFFLE of 64 made-up nodes keep the
%% views within their sizes, and the made-up nodes, unreachable, are
%% dropped again. The C-nodes are never restarted; broadcasts and
%% messages flow afterwards.
bad_hyparview_frames(Config) ->
    Nodes = start_nodes(3, env([]), Config),
    partisan_ct_helpers:join_random(Nodes, {5, 7}),
    wait_connected(Nodes),
    [A | _] = Nodes,
    Mal = partisan_raw_peer:node_ref(?MALLORY, [{<<"127.0.0.1">>, 1}]),
    Ghost = ghost(<<"ghost">>, 0),
    Sample = fun(Prefix, Count) -> [ghost(Prefix, I) || I <- lists:seq(1, Count)] end,
    Closing =
        [{no_kind, <<6>>},
         {kind_0, <<6, 0>>},
         {kind_8, <<6, 8>>},
         {kind_255, <<6, 255, 1, 2, 3>>},
         {join_without_node, <<6, 1>>},
         {join_name_past_the_end, <<6, 1, 200, "mallory@127.0.0.1">>},
         {join_bad_name, partisan_raw_peer:hv_join(partisan_raw_peer:node_ref(<<"no at sign">>, []))},
         {join_17_addresses, partisan_raw_peer:hv_join(
                               partisan_raw_peer:node_ref(?MALLORY, lists:duplicate(17, {<<"127.0.0.1">>, 4000})))},
         {join_port_0, partisan_raw_peer:hv_join(partisan_raw_peer:node_ref(?MALLORY, [{<<"127.0.0.1">>, 0}]))},
         {join_bad_ip, partisan_raw_peer:hv_join(partisan_raw_peer:node_ref(?MALLORY, [{<<"not-an-ip">>, 4000}]))},
         {join_bytes_left_over, <<(partisan_raw_peer:hv_join(Mal))/binary, 0>>},
         {forward_join_without_ttl, <<6, 2, Ghost/binary>>},
         {neighbor_flag_2, partisan_raw_peer:hv_neighbor(Mal, 2)},
         {neighbor_reply_flag_255, <<6, 4, Mal/binary, 255>>},
         {disconnect_bytes_left_over, <<6, 5, 0>>},
         {shuffle_65_entries, partisan_raw_peer:hv_shuffle(Mal, 0, 1, Sample(<<"s">>, 65))},
         {shuffle_count_past_the_end, <<6, 6, Mal/binary, 0, 1:32, 64, Ghost/binary>>},
         {shuffle_count_255, <<6, 6, Mal/binary, 0, 1:32, 255>>},
         {shuffle_reply_65_entries, partisan_raw_peer:hv_shuffle_reply(1, Sample(<<"r">>, 65))},
         {shuffle_reply_short_id, <<6, 7, 0, 0>>}],
    closes_each(A, Closing, Config),
    Ignored =
        [{join_naming_another, partisan_raw_peer:hv_join(Ghost)},
         {neighbor_naming_another, partisan_raw_peer:hv_neighbor(Ghost, 1)},
         {neighbor_reply_unasked, <<6, 4, Mal/binary, 0>>},
         {disconnect_from_a_stranger, partisan_raw_peer:hv_disconnect()},
         {shuffle_reply_unknown_id, partisan_raw_peer:hv_shuffle_reply(16#deadbeef, Sample(<<"u">>, 8))}],
    ActiveBefore = active_views(Nodes),
    stays_open(A, Ignored, Config),
    ?assertEqual(ActiveBefore, active_views(Nodes)),
    ?assertEqual([], made_up_in(views(Nodes))),
    %% Well formed, with made-up nodes at a closed port.
    Bounded =
        [{forward_join_ttl_255, partisan_raw_peer:hv_forward_join(ghost(<<"fj">>, 1), 255)},
         {shuffle_64_entries_ttl_255, partisan_raw_peer:hv_shuffle(ghost(<<"origin">>, 1), 255, 7,
                                                                   Sample(<<"sh">>, 64))}],
    stays_open(A, Bounded, Config),
    wait_until("the made-up nodes to leave the views (views within bounds meanwhile)",
               fun() -> views(Nodes) end,
               fun(Vs) -> within_bounds(Vs, 8) andalso made_up_in(Vs) =:= [] end, ?WAIT),
    still_working(Nodes),
    ok.

%% Malformed PLUMTREE frames close the connection; IHAVE (10 x 1,024
%% ids), GRAFT and PRUNE from a peer that is no neighbour are taken and
%% ignored (the connection stays open); a well-formed broadcast from it is
%% delivered to every node exactly once, though sent twice (plumtree.hpp).
bad_plumtree_frames(Config) ->
    Nodes = start_nodes(3, env([]), Config),
    partisan_ct_helpers:join_random(Nodes, {5, 7}),
    wait_connected(Nodes),
    [A | _] = Nodes,
    [ok = call(N, partisan_ct_helpers, collector_start, [?COLLECTOR]) || N <- Nodes],
    GhostName = <<"ghost@127.0.0.1">>,
    Id = {GhostName, 1},
    Collector = term_body(?COLLECTOR),
    Good = partisan_raw_peer:user_broadcast(<<"undefined">>, Collector, term_body({from_mallory, 1})),
    Ids = fun(First, Count) -> [{{GhostName, Seq}, 0} || Seq <- lists:seq(First, First + Count - 1)] end,
    Closing =
        [{no_kind, <<7>>},
         {kind_0, <<7, 0>>},
         {kind_5, <<7, 5>>},
         {kind_255, <<7, 255>>},
         {gossip_short_id, <<7, 1, 15, "ghost">>},
         {gossip_bad_origin, partisan_raw_peer:pt_gossip({<<"no at sign">>, 1}, 0, Good)},
         {gossip_length_past_the_end, <<7, 1, 15, GhostName/binary, 1:64, 0:16, 100:32, "short">>},
         {gossip_length_4_gib, <<7, 1, 15, GhostName/binary, 1:64, 0:16, 16#ffffffff:32, "x">>},
         {gossip_bytes_left_over, <<(partisan_raw_peer:pt_gossip(Id, 0, Good))/binary, 0>>},
         {gossip_empty_payload, partisan_raw_peer:pt_gossip(Id, 0, <<>>)},
         {gossip_unknown_payload_kind, partisan_raw_peer:pt_gossip(Id, 0, <<2, Good/binary>>)},
         {gossip_term_the_beam_refuses,
          partisan_raw_peer:pt_gossip(Id, 0, partisan_raw_peer:user_broadcast(
                                               <<"undefined">>, Collector, <<119, 2, 16#c3, 16#28>>))},
         {gossip_bad_announce, partisan_raw_peer:pt_gossip(Id, 0, <<1, 3, "bad", 0>>)},
         {ihave_no_ids, <<7, 2, 0:16>>},
         {ihave_1025_ids, partisan_raw_peer:pt_ihave(Ids(1, 1025))},
         {ihave_count_past_the_end, <<7, 2, 1024:16, 15, GhostName/binary, 1:64, 0:16>>},
         {ihave_bad_origin, partisan_raw_peer:pt_ihave([{{<<"bad">>, 1}, 0}])},
         {ihave_bytes_left_over, <<(partisan_raw_peer:pt_ihave(Ids(1, 1)))/binary, 0>>},
         {graft_short, <<7, 3, 15, GhostName/binary, 1:32>>},
         {graft_bytes_left_over, <<(partisan_raw_peer:pt_graft(Id, 0))/binary, 0>>},
         {prune_bytes_left_over, <<7, 4, 0>>}],
    closes_each(A, Closing, Config),
    %% Not a neighbour: its announcements, pulls and prunes are not acted on.
    Ignored = [{{ihave_1024, I}, partisan_raw_peer:pt_ihave(Ids(I * 1024, 1024))} || I <- lists:seq(1, 10)]
        ++ [{graft, partisan_raw_peer:pt_graft(Id, 0)}, {prune, partisan_raw_peer:pt_prune()}],
    stays_open(A, Ignored, Config),
    %% A broadcast it makes reaches everyone once.
    Second = partisan_raw_peer:user_broadcast(<<"undefined">>, Collector, term_body({from_mallory, 2})),
    stays_open(A, [{gossip, partisan_raw_peer:pt_gossip({?MALLORY, 1}, 0, Good)},
                   {same_gossip_again, partisan_raw_peer:pt_gossip({?MALLORY, 1}, 0, Good)},
                   {another_gossip, partisan_raw_peer:pt_gossip({?MALLORY, 2}, 3, Second)}], Config),
    Expected = [{from_mallory, 1}, {from_mallory, 2}],
    [wait_until(io_lib:format("mallory's broadcasts on ~p", [node_name(N)]),
                fun() -> lists:sort(call(N, partisan_ct_helpers, collector_get, [?COLLECTOR])) end,
                fun(Got) -> Got =:= Expected end, ?WAIT) || N <- Nodes],
    still_working(Nodes),
    [?assertEqual(Expected, lists:sort(call(N, partisan_ct_helpers, collector_get, [?COLLECTOR])) -- [{still, node_name(A)}])
     || N <- Nodes],
    ok.

%% A peer that holds the secret becomes a neighbour (it JOINs a node and
%% answers its connections: partisan_raw_peer:listen/3), then floods:
%% 30 IHAVEs of 1,024 unknown ids each make the node pull (GRAFT) at most
%% ?MAX_PENDING of them, each one announced; SHUFFLEs of 64 made-up nodes
%% put at most ?SAMPLE_CAP of each in the passive view (never past its
%% size) and get a reply of at most ?SAMPLE_CAP. When the peer goes away
%% its place is taken, and the node works on.
neighbour_floods(Config) ->
    Nodes = start_nodes(3, env([{max_passive_size, 30}]), Config),
    partisan_ct_helpers:join_random(Nodes, {5, 7}),
    wait_connected(Nodes),
    [A | _] = Nodes,
    NA = node_name(A),
    Mallory = binary_to_atom(?MALLORY),
    {ok, LPort, L} = partisan_raw_peer:listen(?MALLORY, secret(Config), self()),
    put(listener, L),
    MalRef = partisan_raw_peer:node_ref(?MALLORY, [{<<"127.0.0.1">>, LPort}]),
    stays_open(A, [{join, partisan_raw_peer:hv_join(MalRef)}], Config),
    wait_until("mallory to be a's neighbour and member",
               fun() -> {active(A), call(A, partisan, members, [])} end,
               fun({Act, Members}) -> lists:member(Mallory, Act) andalso lists:member(Mallory, Members) end,
               ?WAIT),
    RssBefore = rss_kib(A),
    %% IHAVE flood.
    GhostName = <<"ghost@127.0.0.1">>,
    Announced = 30 * 1024,
    Flood = [{{ihave, I}, partisan_raw_peer:pt_ihave([{{GhostName, Seq}, 0}
                                                      || Seq <- lists:seq(I * 1024 + 1, I * 1024 + 1024)])}
             || I <- lists:seq(0, 29)],
    flush_frames(),
    stays_open(A, Flood, Config),
    Grafts = collect_grafts(atom_to_binary(NA)),
    RssAfter = rss_kib(A),
    ct:log("~b ids announced, ~b GRAFTs back; a's C-node RSS ~b -> ~b KiB",
           [Announced, length(Grafts), RssBefore, RssAfter]),
    ?assert(length(Grafts) > 0),
    ?assert(length(Grafts) =< ?MAX_PENDING),
    ?assertEqual(length(Grafts), length(lists:usort(Grafts))),
    [?assert(Seq >= 1 andalso Seq =< Announced) || {G, Seq} <- Grafts, G =:= GhostName],
    ?assertEqual([], [G || {G, _} <- Grafts, G =/= GhostName]),
    ?assert(RssAfter - RssBefore < 100 * 1024),
    %% SHUFFLE floods: each takes at most ?SAMPLE_CAP new passive entries.
    [begin
         Prefix = <<"sh", (integer_to_binary(Round))/binary, "_">>,
         Sample = [ghost(Prefix, I) || I <- lists:seq(1, 64)],
         stays_open(A, [{{shuffle, Round}, partisan_raw_peer:hv_shuffle(MalRef, 0, Round, Sample)}], Config),
         #{active := Act, passive := Passive} = call(A, partisan, views, []),
         Taken = [P || P <- Passive, lists:prefix(binary_to_list(Prefix), atom_to_list(P))],
         ct:log("shuffle ~b: ~b of 64 taken; a's views ~p ~p", [Round, length(Taken), Act, Passive]),
         ?assert(length(Taken) =< ?SAMPLE_CAP),
         ?assert(length(Passive) =< 30),
         ?assert(length(Act) =< ?MAX_ACTIVE),
         Reply = receive_frame(NA, fun(<<6, 7, Id:32, _/binary>>) -> Id =:= Round; (_) -> false end),
         <<6, 7, Round:32, Count, _/binary>> = Reply,
         ?assert(Count =< ?SAMPLE_CAP, {reply_sample, Count})
     end || Round <- lists:seq(1, 4)],
    %% Mallory goes away.
    partisan_raw_peer:stop_listener(L),
    erase(listener),
    wait_until("mallory gone from every view",
               fun() -> views(Nodes) end,
               fun(Vs) -> within_bounds(Vs, 30) andalso
                              not lists:any(fun({_, #{active := Act}}) -> lists:member(Mallory, Act) end, Vs)
               end, ?WAIT),
    wait_connected(Nodes),
    still_working(Nodes),
    ok.

%% SHUFFLEs whose origins are 300 made-up nodes (each walk ends here, so
%% the node links to each origin for a while to reply) and FORWARD_JOINs
%% of 20 made-up joiners (taken into the active view, then dropped as
%% unreachable) leave nothing behind once those links are gone: no made-up
%% node in stats(), unreachable() or the views.
made_up_origins_leave_no_state(Config) ->
    Nodes = start_nodes(3, env([]), Config),
    partisan_ct_helpers:join_random(Nodes, {5, 7}),
    wait_connected(Nodes),
    [A | _] = Nodes,
    Frames = [{{shuffle, I}, partisan_raw_peer:hv_shuffle(ghost(<<"origin">>, I), 0, I, [])}
              || I <- lists:seq(1, 300)]
        ++ [{{forward_join, I}, partisan_raw_peer:hv_forward_join(ghost(<<"joiner">>, I), 0)}
            || I <- lists:seq(1, 20)],
    stays_open(A, Frames, Config),
    wait_until("no made-up node left in a's stats(), unreachable() and views",
               fun() ->
                       Left = [{What, length(Names), lists:sublist(Names, 3)}
                               || {What, Names} <- [{stats, made_up(maps:keys(call(A, partisan, stats, [])))},
                                                    {unreachable, made_up(maps:keys(call(A, partisan, unreachable, [])))},
                                                    {views, made_up_in(views([A]))}]],
                       [L || {_, Count, _} = L <- Left, Count > 0]
               end,
               fun(Left) -> Left =:= [] end, ?WAIT),
    ?assertEqual([], made_up(maps:keys(call(A, partisan, stats, [])))),
    wait_connected(Nodes),
    still_working(Nodes),
    ok.

%%--------------------------------------------------------------------
%% Helpers: bad input
%%--------------------------------------------------------------------

secret(Config) ->
    list_to_binary(?config(cookie, Config)).

%% An authenticated connection to N's C-node, as node "mallory".
authenticate(N, Config) ->
    #{listen_addrs := [#{ip := Ip, port := Port} | _]} = call(N, partisan, node_spec, []),
    partisan_raw_peer:authenticate(Ip, Port, ?MALLORY, atom_to_binary(node_name(N)),
                                   secret(Config), ?SPEC).

%% Each frame on a connection of its own: it is closed, the C-node lives on.
closes_each(N, Frames, Config) ->
    #{cnode_os_pid := CNodePid} = N,
    [begin
         {ok, S} = authenticate(N, Config),
         ok = partisan_raw_peer:send_frame(S, Frame),
         ?assertEqual({{error, closed}, What}, {partisan_raw_peer:recv_frame(S, 5000), What}),
         ?assert(os_pid_alive(CNodePid))
     end || {What, Frame} <- Frames],
    ok.

%% The frames on one connection: read (a PING after them is answered) and
%% the connection still open.
stays_open(N, Frames, Config) ->
    {ok, S} = authenticate(N, Config),
    [?assertEqual({ok, What}, {partisan_raw_peer:send_frame(S, Frame), What}) || {What, Frame} <- Frames],
    {Last, _} = lists:last(Frames),
    ?assertEqual({ok, Last}, {partisan_raw_peer:ping(S, 10000), Last}),
    gen_tcp:close(S),
    ok.

%% A made-up node at a port where nothing listens.
ghost(Prefix, I) ->
    partisan_raw_peer:node_ref(<<Prefix/binary, (integer_to_binary(I))/binary, "@127.0.0.1">>,
                               [{<<"127.0.0.1">>, 1}]).

%% The names that are none of the test's nodes (all named p2pl<i>_...) nor mallory.
made_up(Names) ->
    [X || X <- Names, X =/= binary_to_atom(?MALLORY), not lists:prefix("p2pl", atom_to_list(X))].

made_up_in(Views) ->
    lists:usort(lists:append([made_up(Act ++ Pas) || {_, #{active := Act, passive := Pas}} <- Views])).

within_bounds(Views, MaxPassive) ->
    [ct:fail("views out of bounds on ~p: ~p", [N, V])
     || {N, #{active := Act, passive := Pas} = V} <- Views,
        length(Act) > ?MAX_ACTIVE orelse length(Pas) > MaxPassive],
    true.

%% Every C-node is the one it started as, its BEAM links are there; a
%% broadcast from the first node reaches every node once; each node
%% answers a round trip from the first.
still_working([A | _] = Nodes) ->
    [begin
         ?assert(os_pid_alive(Pid)),
         ?assertMatch(#{os_pid := Pid}, call(N, partisan, status, [])),
         Hidden = call(N, erlang, nodes, [hidden]),
         [?assert(lists:member(L, Hidden)) || L <- maps:values(Links)]
     end || #{cnode_os_pid := Pid, links := Links} = N <- Nodes],
    [ok = call(N, partisan_ct_helpers, collector_start, [?COLLECTOR]) || N <- Nodes, call(N, erlang, whereis, [?COLLECTOR]) =:= undefined],
    Before = [{N, call(N, partisan_ct_helpers, collector_get, [?COLLECTOR])} || N <- Nodes],
    Tag = {still, node_name(A)},
    ok = call(A, partisan, broadcast, [?COLLECTOR, Tag]),
    [wait_until(io_lib:format("the broadcast on ~p", [node_name(N)]),
                fun() -> call(N, partisan_ct_helpers, collector_get, [?COLLECTOR]) end,
                fun(Got) -> Got =:= Got0 ++ [Tag] end, ?WAIT) || {N, Got0} <- Before],
    S = partisan_test_server,
    [wait_routes(A, N) || N <- tl(Nodes)],
    [wait_until(io_lib:format("a round trip to ~p", [node_name(N)]),
                fun() -> call(A, S, roundtrip, [node_name(N), {fwd3, S}, still, 2000]) end,
                fun(R) -> element(1, R) =:= ok end, ?WAIT) || N <- tl(Nodes)],
    ok.

%% Waits until A and B reach each other (as neighbours or along a route
%% learned from an announcement): before that, the echo server on B, which
%% fails when it cannot answer, must not be sent anything.
wait_routes(A, B) ->
    [wait_until(io_lib:format("~p to reach ~p", [node_name(X), node_name(Y)]),
                fun() -> call(X, partisan_members, is_reachable, [node_name(Y)]) end,
                fun(R) -> R end, ?WAIT) || {X, Y} <- [{A, B}, {B, A}]],
    ok.

flush_frames() ->
    receive {raw_peer_frame, _, _, _, _, _} -> flush_frames() after 0 -> ok end.

%% The GRAFTs node From sends to mallory until none came for 3 s (other
%% frames keep coming: announcements, heartbeats): [{Origin, Seq}].
collect_grafts(From) ->
    collect_grafts(From, [], erlang:monotonic_time(millisecond)).

collect_grafts(From, Acc, Last) ->
    Wait = max(0, Last + 3000 - erlang:monotonic_time(millisecond)),
    receive
        {raw_peer_frame, _, From, _, _, <<7, 3, OL, Origin:OL/binary, Seq:64, _Round:16>>} ->
            collect_grafts(From, [{Origin, Seq} | Acc], erlang:monotonic_time(millisecond));
        {raw_peer_frame, _, _, _, _, _} ->
            collect_grafts(From, Acc, Last)
    after Wait ->
            lists:reverse(Acc)
    end.

%% The first frame from node From that Match accepts (others are skipped).
receive_frame(From, Match) ->
    FromBin = atom_to_binary(From),
    receive
        {raw_peer_frame, _, FromBin, _, _, Body} ->
            case Match(Body) of
                true -> Body;
                false -> receive_frame(From, Match)
            end
    after 10000 ->
            ct:fail("no matching frame from ~p", [From])
    end.

term_body(T) ->
    <<131, Body/binary>> = term_to_binary(T, [{minor_version, 2}]),
    Body.

rss_kib(#{cnode_os_pid := Pid}) ->
    {ok, Status} = file:read_file("/proc/" ++ integer_to_list(Pid) ++ "/status"),
    [Line] = [L || L <- string:split(Status, "\n", all), string:prefix(L, "VmRSS:") =/= nomatch],
    [_, Kib | _] = string:lexemes(Line, " \t"),
    binary_to_integer(Kib).

%%--------------------------------------------------------------------
%% Helpers: nodes and views
%%--------------------------------------------------------------------

env(Overrides) ->
    lists:ukeymerge(1, lists:ukeysort(1, Overrides), lists:ukeysort(1, ?P2P_ENV)).

start_nodes(Count, Env, Config) ->
    put(started_nodes, []),
    [start_node(I, Env, Config) || I <- lists:seq(1, Count)].

start_node(I, Env, Config) ->
    N = partisan_ct_helpers:start_node(list_to_atom("p2pl" ++ integer_to_list(I)), Env, Config),
    put(started_nodes, get(started_nodes) ++ [N]),
    N.


active(N) ->
    maps:get(active, call(N, partisan, views, [])).


views(Nodes) ->
    [{node_name(N), call(N, partisan, views, [])} || N <- Nodes].

node_by_name(Name, Nodes) ->
    [N] = [N || N <- Nodes, node_name(N) =:= Name],
    N.

%% Waits until the active views connect every node and are symmetric, and
%% each node's links to its active view are up (members() is the node and
%% its active view).
wait_connected(Nodes) ->
    All = names(Nodes),
    wait_until("the overlay to be connected, symmetric and its links up",
               fun() -> [{node_name(N), active(N), call(N, partisan, members, [])} || N <- Nodes] end,
               fun(State) ->
                       Views = [{X, As} || {X, As, _} <- State],
                       reachable(hd(All), Views) =:= All andalso
                           lists:all(fun({X, As, Members}) ->
                                             Members =:= lists:sort([X | As]) andalso
                                                 lists:all(fun(Y) ->
                                                                   lists:member(X, proplists:get_value(Y, Views, []))
                                                           end, As)
                                     end, State)
               end, ?WAIT).


active_pair(Nodes, Views) ->
    [{A, B} | _] = [{A, B} || A <- Nodes, B <- Nodes, A =/= B,
                              lists:member(node_name(B), proplists:get_value(node_name(A), Views))],
    {A, B}.

non_neighbours(Nodes, Views) ->
    Pairs = [{A, B} || A <- Nodes, B <- Nodes, A =/= B,
                       not lists:member(node_name(B), proplists:get_value(node_name(A), Views))],
    ?assertNotEqual([], Pairs),
    hd(Pairs).

%% Waits until N holds every channel's connections to each active
%% neighbour, and none to any other node.
wait_channel_connections(N) ->
    Zero = maps:map(fun(_, _) -> 0 end, ?EXPECTED_CONNECTIONS),
    wait_until(io_lib:format("connections() on ~p to match its active view", [node_name(N)]),
               fun() -> {active(N), call(N, partisan, connections, [])} end,
               fun({Act, Conns}) ->
                       lists:all(fun(P) -> maps:get(P, Conns, none) =:= ?EXPECTED_CONNECTIONS end, Act)
                           andalso lists:all(fun({P, C}) -> lists:member(P, Act) orelse C =:= Zero end,
                                             maps:to_list(Conns))
               end, ?WAIT).

stat(Stats, Node, Channel, Key) ->
    maps:get(Key, maps:get(Channel, maps:get(Node, Stats, #{}), #{}), 0).

delta(New, Old, Node, Channel, Key) ->
    stat(New, Node, Channel, Key) - stat(Old, Node, Channel, Key).

%% The TCP connections A's C-node dialed to B's listener (on these, A
%% sends to B): #{LocalPort => BytesSent}, from `ss'.
peer_sockets(#{cnode_os_pid := PidA}, B) ->
    #{listen_addrs := [#{port := PortB} | _]} = call(B, partisan, node_spec, []),
    Out = os:cmd("ss -tnpiH state established dst 127.0.0.1:" ++ integer_to_list(PortB) ++ " 2>&1"),
    parse_ss(string:split(Out, "\n", all), "pid=" ++ integer_to_list(PidA) ++ ",", #{}).

parse_ss([Line, Info | Rest], PidStr, Acc) when Line =/= [] ->
    case string:find(Line, PidStr) =/= nomatch andalso
        re:run(Line, "127\\.0\\.0\\.1:(\\d+)\\s+127\\.0\\.0\\.1:\\d+", [{capture, all_but_first, list}]) of
        {match, [LPort]} ->
            Sent = case re:run(Info, "bytes_sent:(\\d+)", [{capture, all_but_first, list}]) of
                       {match, [S]} -> list_to_integer(S);
                       nomatch -> 0
                   end,
            parse_ss(Rest, PidStr, Acc#{list_to_integer(LPort) => Sent});
        _ ->
            parse_ss([Info | Rest], PidStr, Acc)
    end;
parse_ss([_ | Rest], PidStr, Acc) ->
    parse_ss(Rest, PidStr, Acc);
parse_ss([], _PidStr, Acc) ->
    Acc.

%%--------------------------------------------------------------------
%% Run on the peers
%%--------------------------------------------------------------------

%% A registered process keeping, oldest first, the monitor_nodes messages
%% ({nodeup | nodedown, Node}) and what the on_up (arity 1) and on_down
%% (arity 2) callbacks tell it ({cb, up, Node}, {cb, down, Node, Event}).
events_start() ->
    catch exit(whereis(?EVENTS), kill),
    Parent = self(),
    Pid = spawn(fun() ->
                        register(?EVENTS, self()),
                        ok = partisan:monitor_nodes(true),
                        Parent ! {?EVENTS, ready},
                        events_loop([])
                end),
    receive {?EVENTS, ready} -> ok after 5000 -> error(timeout) end,
    ok = partisan:on_up(any, fun(Node) -> ?EVENTS ! {cb, up, Node} end),
    ok = partisan:on_down(any, fun(Node, #{event := E}) -> ?EVENTS ! {cb, down, Node, E} end),
    _ = Pid,
    ok.

events_loop(Events) ->
    receive
        {get, From} -> From ! {?EVENTS, lists:reverse(Events)}, events_loop(Events);
        Event -> events_loop([Event | Events])
    end.

events_get() ->
    ?EVENTS ! {get, self()},
    receive {?EVENTS, Events} -> Events after 5000 -> timeout end.

events(N) ->
    call(N, ?MODULE, events_get, []).

