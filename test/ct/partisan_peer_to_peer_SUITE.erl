%% End-to-end tests of the peer_to_peer topology (HyParView membership,
%% Plumtree broadcast, messages relayed hop by hop) with real BEAM nodes
%% (OTP `peer', no Distributed Erlang between them) and real C-nodes.
%%
%% sixteen_nodes is the scenario of the peer-to-peer issue: 16 nodes join
%% through random contacts, the overlay is connected, a broadcast reaches
%% all, a message reaches a node that is no neighbour of the sender; then
%% a quarter of the nodes are killed and the rest heal their views and
%% keep delivering every broadcast to every survivor.
%%
%% Run from the top of the repository:
%%   rebar3 ct --dir test/ct --suite partisan_peer_to_peer_SUITE
-module(partisan_peer_to_peer_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-import(partisan_ct_helpers, [active_views/1, reachable/2, call/4, node_name/1, names/1, wait_until/4]).

-export([all/0, suite/0,
         init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).

-export([views_and_members/1,
         broadcast_every_topology/1,
         bad_options/1,
         cut_off_and_healed/1,
         sixteen_nodes/1]).

-define(COLLECTOR, partisan_p2p_collector).
-define(WAIT, 30000).
%% Small views, so that 16 nodes are not all neighbours, and fast timers.
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

all() ->
    [views_and_members, broadcast_every_topology, bad_options, cut_off_and_healed, sixteen_nodes].

suite() ->
    [{timetrap, {minutes, 5}}].

init_per_suite(Config) ->
    partisan_ct_helpers:init_suite(Config).

end_per_suite(_Config) ->
    ok.

init_per_testcase(_Case, Config) ->
    [{nodes, []} | Config].

end_per_testcase(_Case, Config) ->
    Started = case get(started_nodes) of undefined -> []; L -> L end,
    erase(started_nodes),
    partisan_ct_helpers:stop_nodes(Started ++ ?config(nodes, Config)).

%%--------------------------------------------------------------------
%% Cases
%%--------------------------------------------------------------------

%% Five nodes with an active view of 3: members() is the node and its
%% active view, views() shows both views, within their bounds, and the
%% active views are symmetric once the overlay settles.
views_and_members(Config) ->
    Nodes = start_nodes(5, ?P2P_ENV, Config),
    partisan_ct_helpers:join_random(Nodes, {2, 3}),
    wait_connected(Nodes),
    [begin
         #{active := Active, passive := Passive} = call(N, partisan, views, []),
         ?assert(length(Active) =< 3),
         ?assert(length(Passive) =< 8),
         ?assertNot(lists:member(node_name(N), Active ++ Passive)),
         ?assertEqual([], [X || X <- Active, lists:member(X, Passive)]),
         wait_until(io_lib:format("members() of ~p to be itself and its active view", [node_name(N)]),
                    fun() -> {call(N, partisan, members, []),
                              maps:get(active, call(N, partisan, views, []))} end,
                    fun({Members, Act}) -> Members =:= lists:sort([node_name(N) | Act]) end,
                    ?WAIT)
     end || N <- Nodes],
    wait_until("active views to be symmetric",
               fun() -> active_views(Nodes) end,
               fun(Views) ->
                       lists:all(fun({A, As}) ->
                                         lists:all(fun(B) -> lists:member(A, proplists:get_value(B, Views, [])) end, As)
                                 end, Views)
               end, ?WAIT),
    ok.

%% A node cut off from every neighbour at once keeps its C-node and joins
%% the overlay again once back: first by the C-node's fault injection,
%% then by its BEAM stopped (SIGSTOP) past beam_timeout, when the C-node
%% drops every peer connection. Each lost link is a peer down, which
%% changes the neighbours while the drops go on; before the fix the
%% BEAM-hung loop went on over peers the change had erased (a use after
%% free, which crashed a C-node in the 1,024-node scale run).
cut_off_and_healed(Config) ->
    Nodes = start_nodes(6, [{beam_timeout, 1000} | ?P2P_ENV], Config),
    partisan_ct_helpers:join_random(Nodes, {5, 8}),
    wait_connected(Nodes),
    [ok = call(N, partisan_ct_helpers, collector_start, [?COLLECTOR]) || N <- Nodes],
    %% The last to join: with nobody left to ask, it joins again through
    %% its contact (the first node joined no one).
    Victim = lists:last(Nodes),
    Others = Nodes -- [Victim],
    #{cnode_os_pid := CNodePid, os_pid := BeamPid} = Victim,
    Alone = fun() ->
                    wait_until("the victim alone",
                               fun() -> maps:get(active, call(Victim, partisan, views, [])) end,
                               fun(Active) -> Active =:= [] end, ?WAIT)
            end,
    %% Fault injection, twice.
    [begin
         ?assertEqual(ok, call(Victim, partisan_cnode, control,
                               [{fault, partition, [node_name(N) || N <- Others]}])),
         Alone(),
         ?assertEqual(ok, call(Victim, partisan_cnode, control, [{fault, heal}])),
         wait_connected(Nodes)
     end || _ <- [1, 2]],
    %% The BEAM stopped for three times beam_timeout.
    _ = os:cmd("kill -STOP " ++ integer_to_list(BeamPid)),
    timer:sleep(3000),
    _ = os:cmd("kill -CONT " ++ integer_to_list(BeamPid)),
    wait_connected(Nodes),
    ?assertMatch(#{os_pid := CNodePid}, call(Victim, partisan, status, [])),
    broadcast_and_check(Nodes, [Victim, lists:last(Others)], "after the cuts"),
    ok.

%% broadcast/2 reaches every node once, the sender's included, under full
%% mesh (direct), client-server (relayed by the servers) and peer-to-peer.
broadcast_every_topology(Config) ->
    Cases = [{full_mesh, [{topology, full_mesh}], [[], [], []]},
             {client_server, [{topology, client_server}],
              [[{role, server}], [{role, client}], [{role, client}], [{role, client}]]},
             {peer_to_peer, ?P2P_ENV, [[], [], [], [], []]}],
    [begin
         Nodes = [partisan_ct_helpers:start_node({p2p_b, Own}, Env, Config) || Own <- Owns],
         put(started_nodes, Nodes),
         form(Topology, Nodes),
         [ok = call(N, partisan_ct_helpers, collector_start, [?COLLECTOR]) || N <- Nodes],
         [Sender | _] = lists:reverse(Nodes),
         Tags = [{Topology, I} || I <- lists:seq(1, 5)],
         [ok = call(Sender, partisan, broadcast, [?COLLECTOR, Tag]) || Tag <- Tags],
         [wait_until(io_lib:format("~p: broadcasts on ~p", [Topology, node_name(N)]),
                     fun() -> call(N, partisan_ct_helpers, collector_get, [?COLLECTOR]) end,
                     fun(Got) -> lists:sort(Got) =:= lists:sort(Tags) end, ?WAIT)
          || N <- Nodes],
         %% Exactly once: nothing more arrives.
         timer:sleep(1000),
         [?assertEqual(lists:sort(Tags), lists:sort(call(N, partisan_ct_helpers, collector_get, [?COLLECTOR]))) || N <- Nodes],
         ct:pal("~p: 5 broadcasts reached all ~b nodes once", [Topology, length(Nodes)]),
         ok = partisan_ct_helpers:stop_nodes(Nodes),
         erase(started_nodes)
     end || {Topology, Env, Owns} <- Cases],
    ok.

%% The peer-to-peer options are validated by the shim, with the C-node's limits.
bad_options(Config) ->
    N = partisan_ct_helpers:start_peer(p2p_bad, Config),
    put(started_nodes, []),
    Bad = [{max_active_size, 0}, {max_active_size, 65}, {max_passive_size, 0}, {arwl, 0},
           {shuffle_interval, -1}, {max_hops, 256}, {topology, hyparview}],
    [begin
         ok = call(N, application, set_env, [partisan, K, V]),
         ?assertMatch({error, {bad_config, {K, V}}}, call(N, partisan_config, load, [])),
         ok = call(N, application, unset_env, [partisan, K])
     end || {K, V} <- Bad],
    %% arwl must exceed prwl.
    ok = call(N, application, set_env, [partisan, prwl, 6]),
    ?assertMatch({error, {bad_config, {_, _}}}, call(N, partisan_config, load, [])),
    catch peer:stop(maps:get(peer, N)),
    ok.

sixteen_nodes(Config) ->
    T0 = erlang:monotonic_time(millisecond),
    Nodes = start_nodes(16, ?P2P_ENV, Config),
    partisan_ct_helpers:join_random(Nodes, {2, 3}),
    wait_connected(Nodes),
    ct:pal("timing: 16 nodes joined through random contacts and connected in ~b ms",
           [erlang:monotonic_time(millisecond) - T0]),
    Views = active_views(Nodes),
    ct:pal("active views: ~p", [Views]),
    [?assert(length(A) =< 3) || {_, A} <- Views],
    [ok = call(N, partisan_ct_helpers, collector_start, [?COLLECTOR]) || N <- Nodes],
    %% Broadcast from two nodes reaches all 16 once.
    broadcast_and_check(Nodes, [hd(Nodes), lists:last(Nodes)], before_failures),
    %% A message to a node that is no neighbour of the sender arrives
    %% (and its reply, relayed back the same way).
    {From, To} = non_neighbours(Nodes, Views),
    ct:pal("relaying from ~p to ~p (not neighbours)", [node_name(From), node_name(To)]),
    Reply = wait_until("a round trip to a non-neighbour",
                       fun() -> call(From, partisan_test_server, roundtrip,
                                     [node_name(To), {fwd3, partisan_test_server}, relayed, 2000]) end,
                       fun(R) -> element(1, R) =:= ok end, ?WAIT),
    ?assertMatch({ok, #{from := _, same := true}}, Reply),
    %% Kill a quarter of the nodes (BEAM and C-node, SIGKILL).
    {Dead, Alive} = lists:split(4, shuffle(Nodes)),
    [begin
         os:cmd("kill -9 " ++ integer_to_list(C) ++ " " ++ integer_to_list(B))
     end || #{cnode_os_pid := C, os_pid := B} <- Dead],
    put(started_nodes, Alive),
    T1 = erlang:monotonic_time(millisecond),
    DeadNames = names(Dead),
    wait_until("survivors to drop the dead from their active views",
               fun() -> active_views(Alive) end,
               fun(Vs) -> lists:all(fun({_, A}) -> [X || X <- A, lists:member(X, DeadNames)] =:= [] end, Vs)
               end, ?WAIT),
    wait_connected(Alive),
    ct:pal("timing: survivors healed their views in ~b ms",
           [erlang:monotonic_time(millisecond) - T1]),
    [ok = call(N, partisan_ct_helpers, collector_start, [?COLLECTOR]) || N <- Alive],
    broadcast_and_check(Alive, [hd(Alive), lists:last(Alive)], after_failures),
    ok.

%%--------------------------------------------------------------------
%% Helpers
%%--------------------------------------------------------------------

start_nodes(Count, Env, Config) ->
    Nodes = [partisan_ct_helpers:start_node(list_to_atom("p2p" ++ integer_to_list(I)), Env, Config)
             || I <- lists:seq(1, Count)],
    put(started_nodes, Nodes),
    Nodes.


form(peer_to_peer, Nodes) ->
    partisan_ct_helpers:join_random(Nodes, {2, 3}),
    wait_connected(Nodes);
form(client_server, [Server | Clients] = Nodes) ->
    Spec = call(Server, partisan, node_spec, []),
    [?assertEqual(ok, call(C, partisan, join, [Spec])) || C <- Clients],
    wait_until("the clients to see the server", fun() -> [call(C, partisan, members, []) || C <- Clients] end,
               fun(Ms) -> lists:all(fun(M) -> lists:member(node_name(Server), M) end, Ms) end, ?WAIT),
    _ = Nodes,
    ok;
form(full_mesh, Nodes) ->
    partisan_ct_helpers:form_cluster(Nodes).


%% Waits until the active views connect every node (as the nodes see them).
wait_connected(Nodes) ->
    All = names(Nodes),
    wait_until("the overlay to be connected",
               fun() -> active_views(Nodes) end,
               fun(Views) -> reachable(hd(All), Views) =:= All end, ?WAIT).


non_neighbours(Nodes, Views) ->
    Pairs = [{A, B} || A <- Nodes, B <- Nodes, A =/= B,
                       not lists:member(node_name(B), proplists:get_value(node_name(A), Views))],
    ?assertNotEqual([], Pairs),
    hd(Pairs).

broadcast_and_check(Nodes, Senders, Label) ->
    Tags = [{Label, node_name(S), I} || S <- Senders, I <- lists:seq(1, 3)],
    [ok = call(S, partisan, broadcast, [?COLLECTOR, Tag])
     || S <- Senders, {_, From, _} = Tag <- Tags, From =:= node_name(S)],
    T0 = erlang:monotonic_time(millisecond),
    [wait_until(io_lib:format("~p broadcasts on ~p", [Label, node_name(N)]),
                fun() -> call(N, partisan_ct_helpers, collector_get, [?COLLECTOR]) end,
                fun(Got) -> lists:sort(Got) =:= lists:sort(Tags) end, ?WAIT)
     || N <- Nodes],
    timer:sleep(500),
    [?assertEqual(lists:sort(Tags), lists:sort(call(N, partisan_ct_helpers, collector_get, [?COLLECTOR]))) || N <- Nodes],
    ct:pal("timing: ~p: ~b broadcasts reached all ~b nodes once in ~b ms",
           [Label, length(Tags), length(Nodes), erlang:monotonic_time(millisecond) - T0]).

shuffle(L) ->
    [X || {_, X} <- lists:sort([{rand:uniform(), X} || X <- L])].
