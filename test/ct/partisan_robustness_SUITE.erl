%% Robustness as a new user meets it: an oversized message, a hung BEAM,
%% a C-node restart, nodes with different channels, a dead peer, messages
%% to a name nobody registered. Real BEAM peers and C-nodes.
-module(partisan_robustness_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-import(partisan_ct_helpers, [call/4, node_name/1, names/1, form_cluster/1,
                              wait_members/2, wait_until/4, os_pid_alive/1]).

-export([all/0, suite/0,
         init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).

-export([too_large/1,
         hung_beam/1,
         cnode_restart_rejoins/1,
         channel_mismatch/1,
         down_after/1,
         down_refuted/1,
         undeliverable/1,
         slow_members_table/1]).

-define(WAIT, 20000).
-define(MIB, (1024 * 1024)).

all() ->
    [too_large, hung_beam, cnode_restart_rejoins, channel_mismatch, down_after,
     down_refuted, undeliverable, slow_members_table].

suite() ->
    [{timetrap, {minutes, 3}}].

init_per_suite(Config) ->
    partisan_ct_helpers:init_suite(Config).

end_per_suite(_Config) ->
    ok.

nodes_for(too_large) -> [a, b];
nodes_for(hung_beam) -> [a, b, c];
nodes_for(cnode_restart_rejoins) -> [a, b, c];
nodes_for(channel_mismatch) -> [a, {d, [{channels, #{vnode => #{parallelism => 2}}}]}];
nodes_for(down_after) -> [a, b, c];
nodes_for(down_refuted) -> [a, b];
nodes_for(undeliverable) -> [a, b];
nodes_for(slow_members_table) -> [a, b].

env_for(too_large) -> [{max_message_size, ?MIB}];
env_for(hung_beam) -> [{beam_timeout, 2000}, {heartbeat_timeout, 3000}];
env_for(down_after) -> [{down_after, 2000}];
env_for(down_refuted) -> [{down_after, 2000}];
env_for(_) -> [].

init_per_testcase(TestCase, Config) ->
    Env = env_for(TestCase),
    Nodes = [partisan_ct_helpers:start_node(N, Env, Config) || N <- nodes_for(TestCase)],
    [{nodes, Nodes} | Config].

end_per_testcase(_TestCase, Config) ->
    %% A test may leave a BEAM stopped.
    [os:cmd("kill -CONT " ++ integer_to_list(P)) || #{os_pid := P} <- ?config(nodes, Config)],
    partisan_ct_helpers:stop_nodes(?config(nodes, Config)).

%%--------------------------------------------------------------------
%% Test cases
%%--------------------------------------------------------------------

%% A message over max_message_size is refused at the sender; one sent
%% around the API reaches the C-node, which drops it and keeps its link.
too_large(Config) ->
    [A, B] = Nodes = ?config(nodes, Config),
    form_cluster(Nodes),
    NB = node_name(B),
    Big = {big, binary:copy(<<0>>, 2 * ?MIB)},
    Size = erlang:external_size(Big),
    ?assertEqual({error, {too_large, Size, ?MIB}},
                 call(A, partisan, forward_message, [NB, partisan_test_server, Big])),
    #{cnode_os_pid := CNodePid, links := #{undefined := Link}} = A,
    Fwd = {'$fwd', NB, undefined, 0, 0, partisan_test_server, Big},
    ?assertEqual(ok, call(A, erlang, send, [{partisan, Link}, Fwd, [noconnect]])),
    timer:sleep(1000),
    ?assert(os_pid_alive(CNodePid)),
    ?assertMatch(#{os_pid := CNodePid}, call(A, partisan, status, [])),
    ?assert(lists:member(Link, call(A, erlang, nodes, [hidden]))),
    ?assertEqual(names(Nodes), call(A, partisan, members, [])),
    ?assertMatch({ok, #{same := true}},
                 call(A, partisan_test_server, roundtrip,
                      [NB, {fwd3, partisan_test_server}, after_too_large, 10000])),
    ok.

%% kill -STOP of a BEAM (not its C-node): the others report it down within
%% beam_timeout plus a little, and up again once it resumes.
hung_beam(Config) ->
    [A, B, C] = Nodes = ?config(nodes, Config),
    form_cluster(Nodes),
    [NA, NB, NC] = names(Nodes),
    {ok, _} = call(A, partisan_test_server, start_event_collector, []),
    #{os_pid := BeamC, cnode_os_pid := CNodeC} = C,
    _ = os:cmd("kill -STOP " ++ integer_to_list(BeamC)),
    T0 = erlang:monotonic_time(millisecond),
    wait_members([A, B], [NA, NB]),
    Detected = erlang:monotonic_time(millisecond) - T0,
    ct:log("c reported down after ~p ms", [Detected]),
    ?assert(os_pid_alive(CNodeC)),
    ?assertEqual([{nodedown, NC}], call(A, partisan_test_server, events, [])),
    timer:sleep(3000),
    ?assertEqual([NA, NB], call(A, partisan, members, [])),
    _ = os:cmd("kill -CONT " ++ integer_to_list(BeamC)),
    wait_members(Nodes, [NA, NB, NC]),
    ?assertEqual([{nodedown, NC}, {nodeup, NC}], call(A, partisan_test_server, events, [])),
    ?assertMatch({ok, #{same := true}},
                 call(A, partisan_test_server, roundtrip,
                      [NC, {fwd3, partisan_test_server}, resumed, 10000])),
    ok.

%% A BEAM too busy to update its members table in time (1,024 nodes on two
%% cores): the shim waits for the table, and keeps its C-node. Before,
%% the call timed out after 5 s, which stopped partisan_cnode and
%% restarted the C-node.
slow_members_table(Config) ->
    [A, B] = Nodes = ?config(nodes, Config),
    [NA, NB] = names(Nodes),
    #{cnode_os_pid := CNodeA} = A,
    Shim = call(A, erlang, whereis, [partisan_cnode]),
    Table = call(A, erlang, whereis, [partisan_members]),
    SpecA = call(A, partisan, node_spec, []),
    ok = call(A, sys, suspend, [Table]),
    ?assertEqual(ok, call(B, partisan, join, [SpecA])),
    %% A's C-node reports b while its table cannot answer.
    timer:sleep(7000),
    ok = call(A, sys, resume, [Table]),
    wait_members(Nodes, [NA, NB]),
    ?assertEqual(Shim, call(A, erlang, whereis, [partisan_cnode])),
    ?assertMatch(#{os_pid := CNodeA}, call(A, partisan, status, [])),
    ?assertMatch({ok, #{same := true}},
                 call(B, partisan_test_server, roundtrip,
                      [NA, {fwd3, partisan_test_server}, after_slow_table, 10000])),
    ok.

%% kill -9 of a C-node: it is restarted and rejoins the cluster it was in,
%% without a manual join; after leave(), it does not.
cnode_restart_rejoins(Config) ->
    [A, B, C] = Nodes = ?config(nodes, Config),
    form_cluster(Nodes),
    [NA, NB, NC] = names(Nodes),
    #{cnode_os_pid := Old} = C,
    _ = os:cmd("kill -9 " ++ integer_to_list(Old)),
    New = wait_until("a new C-node on c", fun() -> call(C, partisan, status, []) end,
                     fun(#{os_pid := P}) -> P =/= Old; (_) -> false end, ?WAIT),
    wait_members(Nodes, [NA, NB, NC]),
    ?assertMatch({ok, #{same := true}},
                 call(A, partisan_test_server, roundtrip,
                      [NC, {fwd3, partisan_test_server}, rejoined, 10000])),
    ?assertMatch({ok, #{same := true}},
                 call(C, partisan_test_server, roundtrip,
                      [NB, {fwd3, partisan_test_server}, rejoined, 10000])),
    %% A node that left stays out, even when its C-node restarts.
    ?assertEqual(ok, call(C, partisan, leave, [])),
    wait_members([A, B], [NA, NB]),
    #{os_pid := Second} = New,
    _ = os:cmd("kill -9 " ++ integer_to_list(Second)),
    wait_until("a third C-node on c", fun() -> call(C, partisan, status, []) end,
               fun(#{os_pid := P}) -> P =/= Second; (_) -> false end, ?WAIT),
    timer:sleep(5000),
    ?assertEqual([NC], call(C, partisan, members, [])),
    ?assertEqual([NA, NB], call(A, partisan, members, [])),
    ok.

%% A node whose channels differ is refused at join time, with what differs.
channel_mismatch(Config) ->
    [A, D] = ?config(nodes, Config),
    [NA, ND] = [node_name(A), node_name(D)],
    Result = call(D, partisan, join, [call(A, partisan, node_spec, [])]),
    ct:log("join with other channels: ~p", [Result]),
    ?assertMatch({error, {channel_mismatch, NA, #{local := #{vnode := #{parallelism := 2},
                                                             undefined := _},
                                                  remote := #{undefined := _}}}}, Result),
    {error, {channel_mismatch, _, #{remote := Remote}}} = Result,
    ?assertNot(maps:is_key(vnode, Remote)),
    timer:sleep(2000),
    ?assertEqual([NA], call(A, partisan, members, [])),
    ?assertEqual([ND], call(D, partisan, members, [])),
    ?assertEqual(#{}, call(D, partisan, unreachable, [])),
    ok.

%% A dead member is marked down after down_after (then only probed), is
%% listed by unreachable(), and leave(Node) removes it for good.
down_after(Config) ->
    [A, B, C] = Nodes = ?config(nodes, Config),
    form_cluster(Nodes),
    [NA, NB, NC] = names(Nodes),
    ?assertEqual(#{}, call(A, partisan, unreachable, [])),
    #{peer := PeerC} = C,
    peer:stop(PeerC),
    wait_members([A, B], [NA, NB]),
    [wait_until("c marked down on " ++ atom_to_list(node_name(N)),
                fun() -> call(N, partisan, unreachable, []) end,
                fun(#{NC := #{status := down, for_ms := Ms}}) -> Ms >= 2000; (_) -> false end,
                ?WAIT) || N <- [A, B]],
    ?assertEqual(ok, call(A, partisan, leave, [NC])),
    [wait_until("c gone from unreachable() on " ++ atom_to_list(node_name(N)),
                fun() -> call(N, partisan, unreachable, []) end,
                fun(U) -> U =:= #{} end, ?WAIT) || N <- [A, B]],
    ok.

%% Two nodes apart for longer than down_after mark each other down; once
%% they can talk again, each refutes and they are members again.
down_refuted(Config) ->
    [A, B] = Nodes = ?config(nodes, Config),
    form_cluster(Nodes),
    [NA, NB] = names(Nodes),
    ?assertEqual(ok, call(A, partisan_cnode, control, [{fault, partition, [NB]}])),
    wait_until("b marked down on a", fun() -> call(A, partisan, unreachable, []) end,
               fun(#{NB := #{status := down}}) -> true; (_) -> false end, ?WAIT),
    wait_until("a marked down on b", fun() -> call(B, partisan, unreachable, []) end,
               fun(#{NA := #{status := down}}) -> true; (_) -> false end, ?WAIT),
    ?assertEqual(ok, call(A, partisan_cnode, control, [{fault, heal}])),
    wait_members(Nodes, [NA, NB]),
    ?assertEqual(#{}, call(A, partisan, unreachable, [])),
    ?assertEqual(#{}, call(B, partisan, unreachable, [])),
    ?assertMatch({ok, #{same := true}},
                 call(A, partisan_test_server, roundtrip,
                      [NB, {fwd3, partisan_test_server}, healed, 10000])),
    ok.

%% Messages to a name nobody registered are counted as undeliverable, not
%% received; messages count as sent once written.
undeliverable(Config) ->
    [A, B] = Nodes = ?config(nodes, Config),
    form_cluster(Nodes),
    [NA, NB] = names(Nodes),
    [?assertEqual(ok, call(A, partisan, forward_message, [NB, nobody_here, {lost, I}]))
     || I <- lists:seq(1, 5)],
    Stat = fun(Key) -> maps:get(Key, maps:get(undefined, maps:get(NA, call(B, partisan, stats, []))))
           end,
    wait_until("5 undeliverable on b", fun() -> Stat(undeliverable) end, fun(N) -> N =:= 5 end, ?WAIT),
    ?assertEqual(0, Stat(messages_received)),
    ok = call(B, partisan_test_server, register_sink, [late_name]),
    [?assertEqual(ok, call(A, partisan, forward_message, [NB, late_name, {kept, I}]))
     || I <- lists:seq(1, 3)],
    wait_until("3 received on b", fun() -> Stat(messages_received) end, fun(N) -> N =:= 3 end, ?WAIT),
    timer:sleep(500),
    ?assertEqual(5, Stat(undeliverable)),
    ?assertEqual(3, Stat(messages_received)),
    SentA = maps:get(undefined, maps:get(NB, call(A, partisan, stats, []))),
    ?assertMatch(#{messages_sent := 8, messages_queued := 0}, SentA),
    ok.
