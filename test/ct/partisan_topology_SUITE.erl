%% End-to-end tests of partisan's membership and topologies: full mesh
%% (gossiped membership, leave, rejoin), static, client-server, failure
%% detection and node up/down notifications, partitions.
%%
%% Peers are OTP `peer' nodes (connection standard_io: no Distributed
%% Erlang between them or with this node), each running partisan and its
%% C-node. Functions in the "Run on the peers" section are called on the
%% peers with peer:call/5 (this module is on their code path).
%%
%% Every wait is bounded; convergence and detection times are printed
%% with ct:pal (lines starting with "timing:").
%%
%% Run from the top of the repository:
%%   ERL_EPMD_PORT=43791 ERL_EPMD_ADDRESS=127.0.0.1 \
%%     rebar3 ct --dir test/ct --suite partisan_topology_SUITE
-module(partisan_topology_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-import(partisan_ct_helpers, [call/4, call/5, node_name/1, names/1, wait_until/4]).

-export([all/0, suite/0,
         init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).

-export([config/1,
         full_mesh_chain/1,
         leave_rejoin/1,
         static_peers/1,
         client_server/1,
         scenario_full_mesh/1,
         scenario_static/1,
         scenario_client_server/1,
         node_down/1,
         partition_heal/1,
         connect_pacing_and_backlog/1]).

%% Run on the peers.
-export([events_start/0,
         events/0,
         watch_down/1,
         subscription_checks/0]).

-define(EVENTS, partisan_topology_events).
-define(WAIT, 15000).               % bound of the usual waits, ms
-define(CONVERGE, 30000).           % bound of a cluster's convergence, ms
-define(HB_INTERVAL, 500).          % node_down: heartbeat interval, ms
-define(HB_TIMEOUT, 3000).          % node_down: heartbeat timeout, ms
-define(DETECT_MARGIN, 1500).       % node_down: allowed beyond timeout + interval, ms
-define(LOCALHOST, {127, 0, 0, 1}).
%% connect_pacing_and_backlog: a channel of 8 connections (9 links per
%% peer with the default channel), 150 ms apart, listen backlog 77.
-define(PACED_LINKS, 8).
-define(CONNECT_INTERVAL, 150).
-define(BACKLOG, 77).
%% Gossip faster than the default, with a fan-out below the cluster size.
-define(GOSSIP_ENV, [{gossip_interval, 300}, {gossip_fanout, 2}]).

all() ->
    [config,
     full_mesh_chain,
     leave_rejoin,
     static_peers,
     client_server,
     scenario_full_mesh,
     scenario_static,
     scenario_client_server,
     node_down,
     partition_heal,
     connect_pacing_and_backlog].

suite() ->
    [{timetrap, {minutes, 3}}].

%%--------------------------------------------------------------------
%% Setup
%%--------------------------------------------------------------------

init_per_suite(Config) ->
    partisan_ct_helpers:init_suite(Config).

end_per_suite(_Config) ->
    ok.

%% {Topology, [{Short, Env}]}: the nodes a test case starts (partisan
%% running, no join made). Under static, every node gets a fixed listen
%% port and the static_peers list of all of them.
layout(config) ->
    {none, []};
layout(full_mesh_chain) ->
    {full_mesh, [{list_to_atom("n" ++ integer_to_list(I)), ?GOSSIP_ENV}
                 || I <- lists:seq(1, 8)]};
layout(leave_rejoin) ->
    {full_mesh, [{S, ?GOSSIP_ENV} || S <- [a, b, c, d]]};
layout(static_peers) ->
    {static, [{S, []} || S <- [a, b, c]]};
layout(client_server) ->
    {client_server, [{s1, [{role, server}]}, {s2, [{role, server}]},
                     {c1, [{role, client}]}, {c2, [{role, client}]},
                     {c3, [{role, client}]}, {c4, [{role, client}]}]};
layout(scenario_full_mesh) ->
    {full_mesh, [{S, []} || S <- [a, b, c]]};
layout(scenario_static) ->
    {static, [{S, []} || S <- [a, b, c]]};
layout(scenario_client_server) ->
    {client_server, [{a, [{role, server}]}, {b, [{role, client}]}, {c, [{role, client}]}]};
layout(node_down) ->
    {full_mesh, [{S, [{heartbeat_interval, ?HB_INTERVAL}, {heartbeat_timeout, ?HB_TIMEOUT}]}
                 || S <- [a, b, c]]};
layout(partition_heal) ->
    {full_mesh, [{S, ?GOSSIP_ENV} || S <- [a, b, c, d]]};
layout(connect_pacing_and_backlog) ->
    {full_mesh, [{S, [{channels, #{bulk => #{parallelism => ?PACED_LINKS}}},
                      {connect_interval, ?CONNECT_INTERVAL},
                      {listen_backlog, ?BACKLOG}]}
                 || S <- [a, b]]}.

init_per_testcase(TestCase, Config) ->
    {Topology, Specs} = layout(TestCase),
    T0 = now_ms(),
    Nodes = start_nodes(Topology, Specs, Config),
    ct:log("~p nodes started in ~p ms", [length(Nodes), now_ms() - T0]),
    [{nodes, Nodes} | Config].

end_per_testcase(_TestCase, Config) ->
    Nodes = ?config(nodes, Config),
    %% A failed test must not leave a C-node stopped; a C-node restarted
    %% during the test has a new OS pid.
    [os:cmd("kill -CONT " ++ integer_to_list(Pid)) || #{cnode_os_pid := Pid} <- Nodes],
    Current = [case catch call(N, partisan, status, [], 5000) of
                   #{os_pid := Pid} when is_integer(Pid) ->
                       os:cmd("kill -CONT " ++ integer_to_list(Pid)),
                       N#{cnode_os_pid => Pid};
                   _ ->
                       N
               end || N <- Nodes],
    partisan_ct_helpers:stop_nodes(Current).

%%--------------------------------------------------------------------
%% Test cases
%%--------------------------------------------------------------------

%% The topology keys of the configuration and the C-node command line
%% they give (on this node, no peers).
config(_Config) ->
    Env = application:get_all_env(partisan),
    try
        config_checks()
    after
        [application:unset_env(partisan, K) || {K, _} <- application:get_all_env(partisan)],
        [application:set_env(partisan, K, V) || {K, V} <- Env]
    end.

config_checks() ->
    Set = fun(KVs) -> [ok = application:set_env(partisan, K, V) || {K, V} <- KVs] end,
    Set([{cookie, <<"s3cret">>}]),
    {ok, C0} = partisan_config:load(),
    ?assertMatch(#{topology := full_mesh, role := server, static_peers := [],
                   heartbeat_interval := 1000, heartbeat_timeout := 10000,
                   connect_interval := 20, listen_backlog := 1024}, C0),
    Args0 = partisan_config:cnode_args(C0, 'a@h', 'partisan_a_1@h'),
    ?assertEqual(["1000", "10000", "20", "1024"],
                 [arg(O, Args0) || O <- ["--heartbeat-interval-ms", "--heartbeat-timeout-ms",
                                         "--connect-interval-ms", "--listen-backlog"]]),
    ?assertNot(lists:member("--role", Args0)),
    ?assertNot(lists:member("--static-peer", Args0)),
    ?assertNot(lists:member("--advertise-port", Args0)),
    Set([{advertise_port, 4567}]),
    {ok, CA} = partisan_config:load(),
    ?assertEqual("4567", arg("--advertise-port", partisan_config:cnode_args(CA, 'a@h', 'p@h'))),
    Set([{advertise_port, 0}]),
    %% client_server: the role goes on the command line.
    Set([{topology, client_server}, {role, client}, {heartbeat_interval, 200},
         {heartbeat_timeout, 900}, {connect_interval, 0}, {listen_backlog, 16}]),
    {ok, C1} = partisan_config:load(),
    Args1 = partisan_config:cnode_args(C1, 'a@h', 'partisan_a_1@h'),
    ct:log("client_server args: ~p", [Args1]),
    ?assertEqual("client_server", arg("--topology", Args1)),
    ?assertEqual("client", arg("--role", Args1)),
    ?assertEqual(["200", "900", "0", "16"],
                 [arg(O, Args1) || O <- ["--heartbeat-interval-ms", "--heartbeat-timeout-ms",
                                         "--connect-interval-ms", "--listen-backlog"]]),
    Set([{role, server}]),
    {ok, C2} = partisan_config:load(),
    ?assertEqual("server", arg("--role", partisan_config:cnode_args(C2, 'a@h', 'p@h'))),
    %% static: node specs or {Node, Ip, Port}; this node itself is skipped.
    Spec = #{name => 'b@h', listen_addrs => [#{ip => {127, 0, 0, 2}, port => 4001},
                                             #{ip => {10, 0, 0, 2}, port => 4002}],
             channels => #{undefined => #{parallelism => 1, monotonic => false}}},
    Set([{topology, static}, {role, client},
         {static_peers, [{'a@h', {127, 0, 0, 1}, 4000}, Spec, {'c@h', "10.1.2.3", 4003}]}]),
    {ok, C3} = partisan_config:load(),
    ?assertEqual([{'a@h', {127, 0, 0, 1}, 4000}, {'b@h', {127, 0, 0, 2}, 4001},
                  {'c@h', {10, 1, 2, 3}, 4003}], maps:get(static_peers, C3)),
    Args3 = partisan_config:cnode_args(C3, 'a@h', 'partisan_a_1@h'),
    ct:log("static args: ~p", [Args3]),
    ?assertEqual("static", arg("--topology", Args3)),
    ?assertEqual(["b@h=127.0.0.2:4001", "c@h=10.1.2.3:4003"], args("--static-peer", Args3)),
    ?assertNot(lists:member("--role", Args3)),
    %% Bad values.
    Set([{topology, full_mesh}, {role, server}, {static_peers, []},
         {heartbeat_interval, 1000}, {heartbeat_timeout, 10000}]),
    Bad = [{topology, ring}, {topology, "static"}, {role, boss},
           {static_peers, not_a_list}, {static_peers, [x]},
           {static_peers, [{'a@h', {127, 0, 0, 1}, 0}]},
           {static_peers, [{'a@h', "not an ip", 4000}]},
           {static_peers, [{"a@h", {127, 0, 0, 1}, 4000}]},
           {static_peers, [{'no_host', {127, 0, 0, 1}, 4000}]},
           {static_peers, [{'a=b@h', {127, 0, 0, 1}, 4000}]},
           {static_peers, [{'a@h', {127, 0, 0, 1}, 4000}, {'a@h', {127, 0, 0, 1}, 4001}]},
           {static_peers, [#{name => 'a@h', listen_addrs => []}]},
           {heartbeat_interval, 0}, {heartbeat_interval, x},
           {heartbeat_timeout, 1000},            % must exceed the interval (1000)
           {heartbeat_timeout, -1}, {connect_interval, -1}, {connect_interval, 1.5},
           {listen_backlog, 0}, {advertise_port, -1}, {advertise_port, 70000}],
    [begin
         Old = application:get_env(partisan, K),
         ok = application:set_env(partisan, K, V),
         ?assertEqual({{error, {bad_config, {K, V}}}, K, V}, {partisan_config:load(), K, V}),
         case Old of
             {ok, OldV} -> application:set_env(partisan, K, OldV);
             undefined -> application:unset_env(partisan, K)
         end
     end || {K, V} <- Bad],
    %% The interval alone can make the timeout invalid.
    Set([{heartbeat_interval, 20000}]),
    ?assertEqual({error, {bad_config, {heartbeat_timeout, 10000}}}, partisan_config:load()),
    %% The notification API checks its arguments; not running without the app.
    ?assertError(badarg, partisan:on_up(any, not_a_fun)),
    ?assertError(badarg, partisan:on_down("node", fun() -> ok end)),
    ?assertError(badarg, partisan:on_down(any, fun(_, _, _) -> ok end)),
    ?assertEqual(error, partisan:monitor_nodes(maybe)),
    ?assertEqual({error, not_running}, partisan:on_up(any, fun() -> ok end)),
    ?assertEqual({error, not_running}, partisan:monitor_nodes(true)),
    ok.

%% 8 nodes, node i joins node i-1: all converge to the same 8 members.
full_mesh_chain(Config) ->
    Nodes = ?config(nodes, Config),
    Names = names(Nodes),
    T0 = now_ms(),
    [?assertEqual({ok, node_name(N)},
                  {call(N, partisan, join, [call(Prev, partisan, node_spec, [])]), node_name(N)})
     || {Prev, N} <- chain(Nodes)],
    TJoined = now_ms(),
    await_members(Nodes, fun(_) -> Names end, ?CONVERGE),
    TDone = now_ms(),
    timing("full mesh of 8 from chained joins: joins took ~p ms, converged ~p ms after "
           "the last join (~p ms in all)", [TJoined - T0, TDone - TJoined, TDone - T0]),
    [?assertEqual({ok, Names}, call(N, partisan_peer_service, members, [])) || N <- Nodes],
    %% Every node holds a connection to every other one.
    [begin
         Conns = call(N, partisan, connections, []),
         Peers = lists:sort([P || {P, #{undefined := 1}} <- maps:to_list(Conns)]),
         ?assertEqual({node_name(N), Names -- [node_name(N)]}, {node_name(N), Peers})
     end || N <- Nodes],
    %% Messages between the two ends of the chain.
    [First | _] = Nodes,
    Last = lists:last(Nodes),
    roundtrip(First, Last),
    roundtrip(Last, First),
    ok.

%% d leaves: the others converge without it and do not bring it back; it
%% rejoins (through another node): all converge again.
leave_rejoin(Config) ->
    [A, B, C, D] = Nodes = ?config(nodes, Config),
    [NA, NB, NC, ND] = Names = names(Nodes),
    form_cluster(Nodes),
    T0 = now_ms(),
    ?assertEqual(ok, call(D, partisan, leave, [])),
    await_members([A, B, C], fun(_) -> [NA, NB, NC] end, ?WAIT),
    await_members([D], fun(_) -> [ND] end, ?WAIT),
    timing("leave: the others dropped the node within ~p ms", [now_ms() - T0]),
    %% Not resurrected: many gossip rounds later it is still out.
    stays(Nodes, fun(N) when N =:= D -> [ND];
                    (_) -> [NA, NB, NC]
                 end, 3000),
    ?assertMatch({error, {unknown_node, ND}},
                 call(A, partisan, forward_message, [ND, partisan_test_server, hi])),
    ?assertMatch({error, {unknown_node, NA}},
                 call(D, partisan, forward_message, [NA, partisan_test_server, hi])),
    %% Rejoins through c.
    T1 = now_ms(),
    ?assertEqual(ok, call(D, partisan, join, [call(C, partisan, node_spec, [])])),
    await_members(Nodes, fun(_) -> Names end, ?CONVERGE),
    timing("rejoin: converged ~p ms after the join call", [now_ms() - T1]),
    roundtrip(D, A),
    roundtrip(B, D),
    %% Leaving a second time works as the first.
    ?assertEqual(ok, call(D, partisan_peer_service, leave, [])),
    await_members([A, B, C], fun(_) -> [NA, NB, NC] end, ?WAIT),
    await_members([D], fun(_) -> [ND] end, ?WAIT),
    %% kill -9 c's BEAM (its C-node goes with it); a new BEAM with the
    %% same node name joins again (through b): it is a member again and
    %% messages reach it.
    #{os_pid := BeamC, cnode_os_pid := CNodeC} = C,
    _ = os:cmd("kill -9 " ++ integer_to_list(BeamC)),
    await_members([A, B], fun(_) -> [NA, NB] end, ?WAIT),
    ?assert(partisan_ct_helpers:wait_os_pid_gone(CNodeC, ?WAIT)),
    [Alive, _Host] = string:split(atom_to_list(NC), "@"),
    C2 = partisan_ct_helpers:start_partisan(
           partisan_ct_helpers:start_peer(c, list_to_atom(Alive), Config), ?GOSSIP_ENV),
    try
        ?assertEqual(NC, node_name(C2)),
        T2 = now_ms(),
        ?assertEqual(ok, call(C2, partisan, join, [call(B, partisan, node_spec, [])])),
        await_members([A, B, C2], fun(_) -> [NA, NB, NC] end, ?CONVERGE),
        timing("BEAM restarted with the same name: converged ~p ms after its join",
               [now_ms() - T2]),
        roundtrip(A, C2),
        roundtrip(C2, B)
    after
        partisan_ct_helpers:stop_nodes([C2])
    end,
    ok.

%% Static: nodes connect to their configured peers without join; join and
%% leave are not supported; a broken connection and a restarted C-node
%% reconnect by themselves.
static_peers(Config) ->
    [A, B, C] = Nodes = ?config(nodes, Config),
    [NA, NB, _NC] = Names = names(Nodes),
    T0 = now_ms(),
    await_members(Nodes, fun(_) -> Names end, ?CONVERGE),
    timing("static: 3 nodes converged ~p ms after their start", [now_ms() - T0]),
    ?assertMatch(#{topology := static}, call(A, partisan, status, [])),
    SpecB = call(B, partisan, node_spec, []),
    ?assertEqual({error, not_supported}, call(A, partisan, join, [SpecB])),
    ?assertEqual({error, not_supported}, call(A, partisan_peer_service, join, [SpecB])),
    ?assertEqual({error, not_supported}, call(C, partisan, leave, [])),
    ?assertEqual({error, not_supported}, call(C, partisan, leave, [NA])),
    ?assertEqual({error, not_supported}, call(C, partisan_peer_service, leave, [])),
    [?assertEqual(Names, call(N, partisan, members, [])) || N <- Nodes],
    roundtrip(A, B),
    roundtrip(B, C),
    roundtrip(C, A),
    %% Break a's connection to b: it reconnects.
    #{NB := #{undefined := #{reconnects := R0}}} = call(A, partisan, stats, []),
    ?assertEqual(ok, call(A, partisan_cnode, control, [{fault, close_link, NB, undefined, 0}])),
    T1 = now_ms(),
    wait_until("a's connection to b re-established",
               fun() -> call(A, partisan, stats, []) end,
               fun(#{NB := #{undefined := #{connections := 1, reconnects := R}}}) -> R > R0;
                  (_) -> false
               end, ?WAIT),
    await_members(Nodes, fun(_) -> Names end, ?WAIT),
    timing("static: broken connection back within ~p ms", [now_ms() - T1]),
    roundtrip(A, B),
    roundtrip(B, A),
    %% kill -9 c's C-node: a and b drop c; c's partisan starts a new
    %% C-node on the same port, and the static peers reconnect, no join.
    #{cnode_os_pid := OldPid} = C,
    T2 = now_ms(),
    _ = os:cmd("kill -9 " ++ integer_to_list(OldPid)),
    %% (c may be back before a poll sees it gone: not checked.)
    wait_until("a new C-node on c",
               fun() -> call(C, partisan, status, []) end,
               fun(#{os_pid := P}) -> P =/= OldPid;
                  (_) -> false
               end, ?WAIT),
    await_members(Nodes, fun(_) -> Names end, ?CONVERGE),
    timing("static: restarted C-node reconnected ~p ms after the kill", [now_ms() - T2]),
    roundtrip(A, C),
    roundtrip(C, B),
    ok.

%% Client-server: 2 servers, 4 clients. Servers see everyone, clients see
%% the servers; a client joining a client ends up on the servers;
%% client-to-client messages are relayed; client-server messages are
%% ordered.
client_server(Config) ->
    [S1, S2, C1, C2, C3, C4] = Nodes = ?config(nodes, Config),
    Names = names(Nodes),
    Servers = names([S1, S2]),
    Clients = [C1, C2, C3, C4],
    Spec = fun(N) -> call(N, partisan, node_spec, []) end,
    T0 = now_ms(),
    ?assertEqual(ok, call(S2, partisan, join, [Spec(S1)])),
    ?assertEqual(ok, call(C1, partisan, join, [Spec(S1)])),
    ?assertEqual(ok, call(C2, partisan, join, [Spec(S1)])),
    ?assertEqual(ok, call(C3, partisan, join, [Spec(S2)])),
    %% c4 joins a client: redirected to the servers.
    ?assertEqual(ok, call(C4, partisan, join, [Spec(C1)])),
    Expected = fun(N) ->
                       case lists:member(N, Clients) of
                           true -> lists:usort([node_name(N) | Servers]);
                           false -> Names
                       end
               end,
    await_members(Nodes, Expected, ?CONVERGE),
    timing("client_server: 2 servers + 4 clients converged ~p ms after the first join",
           [now_ms() - T0]),
    %% Clients hold connections to servers only (c4 dropped its link to c1).
    [begin
         Conns = call(N, partisan, connections, []),
         ct:log("connections of ~p: ~p", [node_name(N), Conns]),
         Connected = lists:sort([P || {P, Chans} <- maps:to_list(Conns),
                                      lists:sum(maps:values(Chans)) > 0]),
         ?assertEqual({node_name(N), Servers}, {node_name(N), Connected})
     end || N <- Clients],
    [NC1, _NC2, NC3, NC4] = names(Clients),
    %% A client learns of the other clients (reachable through a server)
    %% by gossip, after its members: until then it cannot send to them.
    T1 = now_ms(),
    [wait_reachable(X, Y) || X <- Clients, Y <- Clients, X =/= Y],
    timing("client_server: every client reaches every client ~p ms after convergence",
           [now_ms() - T1]),
    ?assertNot(call(C1, partisan, member, [NC3])),
    ?assert(call(C1, partisan, member, [node_name(S2)])),
    %% Client to client, relayed through a server (both ways: the echo
    %% comes back the same way); casts too.
    roundtrip(C1, C3),
    roundtrip(C4, C2),
    roundtrip(C3, C4),
    ?assertMatch({ok, NC3, _}, call(C2, partisan_test_server, cast_roundtrip,
                                    [NC3, cast3, 10000])),
    %% Client <-> server.
    roundtrip(C1, S2),
    roundtrip(S1, C4),
    %% Order between a client and a server, both directions at once.
    N = 3000,
    NS2 = node_name(S2),
    {ok, _} = call(S2, partisan_test_server, start_seq_collector, []),
    {ok, _} = call(C1, partisan_test_server, start_seq_collector, []),
    {ok, _} = call(C4, partisan_test_server, start_seq_collector, []),
    Self = self(),
    Senders = [spawn_link(fun() ->
                                  Self ! {sent, From, call(From, partisan_test_server, send_seq,
                                                           [To, N, #{}], 60000)}
                          end)
               || {From, To} <- [{C1, NS2}, {S1, NC1}]],
    [receive {sent, _, R} -> ?assertEqual(ok, R) after 60000 -> ct:fail(send_timeout) end
     || _ <- Senders],
    [wait_until(io_lib:format("~p ordered messages on ~p", [N, node_name(To)]),
                fun() -> call(To, partisan_test_server, seq_result, []) end,
                fun(R) -> R =:= {N, ok} orelse element(2, R) =/= ok end, ?WAIT)
     || To <- [S2, C1]],
    ?assertEqual({N, ok}, call(S2, partisan_test_server, seq_result, [])),
    ?assertEqual({N, ok}, call(C1, partisan_test_server, seq_result, [])),
    %% Relayed client -> client: all arrive (order not promised).
    ?assertEqual(ok, call(C1, partisan_test_server, send_seq, [NC4, 1000, #{}], 60000)),
    Relayed = wait_until("1000 relayed messages on c4",
                         fun() -> call(C4, partisan_test_server, seq_result, []) end,
                         fun({Count, _}) -> Count >= 1000;
                            (_) -> false
                         end, ?WAIT),
    ct:log("relayed c1 -> c4: ~p", [Relayed]),
    ?assertMatch({1000, _}, Relayed),
    ok.

%% The same application code under the three topologies.
scenario_full_mesh(Config) ->
    Nodes = ?config(nodes, Config),
    Names = names(Nodes),
    scenario(Nodes, ok, fun(_) -> Names end).

scenario_static(Config) ->
    Nodes = ?config(nodes, Config),
    Names = names(Nodes),
    scenario(Nodes, {error, not_supported}, fun(_) -> Names end).

%% a is the server, b and c clients (c joins b: redirected to a).
scenario_client_server(Config) ->
    [A, _, _] = Nodes = ?config(nodes, Config),
    Names = names(Nodes),
    NA = node_name(A),
    scenario(Nodes, ok, fun(N) when N =:= A -> Names;
                           (N) -> lists:usort([NA, node_name(N)])
                        end).

%% Node down detection and notifications: kill -9 of a C-node (connections
%% drop) and SIGSTOP of a C-node (heartbeats unanswered); nodeup after
%% SIGCONT and after a restarted C-node rejoins; on_up when nodes join.
node_down(Config) ->
    [A, B, C] = Nodes = ?config(nodes, Config),
    [NA, NB, NC] = Names = names(Nodes),
    MonitorA = call(A, erlang, whereis, [partisan_monitor]),
    ?assert(is_pid(MonitorA)),
    ?assertEqual(ok, call(A, ?MODULE, subscription_checks, [])),
    {ok, _} = call(A, ?MODULE, events_start, []),
    {ok, _} = call(C, ?MODULE, events_start, []),
    ok = call(A, ?MODULE, watch_down, [NB]),
    %% on_up and nodeup when b and c join.
    TJoin = sys_ms(),
    ?assertEqual(ok, call(B, partisan, join, [call(A, partisan, node_spec, [])])),
    ?assertEqual(ok, call(C, partisan, join, [call(A, partisan, node_spec, [])])),
    await_members(Nodes, fun(_) -> Names end, ?WAIT),
    [wait_event(A, {Src, up, N}, TJoin, ?WAIT)
     || Src <- [monitor, callback], N <- [NB, NC]],
    %% (a) kill -9 c's C-node: the connections drop.
    #{cnode_os_pid := PidC} = C,
    T1 = sys_ms(),
    _ = os:cmd("kill -9 " ++ integer_to_list(PidC)),
    Bound = ?HB_TIMEOUT + ?HB_INTERVAL + ?DETECT_MARGIN,
    DownC = [wait_event(A, {Src, down, NC}, T1, Bound) - T1 || Src <- [monitor, callback]],
    timing("kill -9 of a C-node: nodedown after ~w ms (monitor_nodes, on_down)", [DownC]),
    %% c's own partisan reports its peers down (its C-node is gone).
    [wait_event(C, {monitor, down, N}, T1, ?WAIT) || N <- [NA, NB]],
    %% c's partisan restarts its C-node, which rejoins by itself: nodeup on a.
    wait_until("a new C-node on c",
               fun() -> call(C, partisan, status, []) end,
               fun(#{os_pid := P}) -> P =/= PidC;
                  (_) -> false
               end, ?WAIT),
    T2 = sys_ms(),
    await_members(Nodes, fun(_) -> Names end, ?CONVERGE),
    [wait_event(A, {Src, up, NC}, T1, ?WAIT) || Src <- [monitor, callback]],
    [wait_event(C, {monitor, up, N}, T1, ?WAIT) || N <- [NA, NB]],
    timing("restarted C-node of c: all converged ~p ms after it was up", [sys_ms() - T2]),
    roundtrip(A, C),
    roundtrip(C, B),
    %% (b) SIGSTOP b's C-node: its sockets stay open, heartbeats go
    %% unanswered.
    #{cnode_os_pid := PidB} = B,
    T3 = sys_ms(),
    _ = os:cmd("kill -STOP " ++ integer_to_list(PidB)),
    {DownB, T4} = try
                      Ds = [wait_event(A, {Src, down, NB}, T3, Bound) - T3
                            || Src <- [monitor, callback, watch]],
                      await_members([A, C], fun(_) -> [NA, NC] end, ?WAIT),
                      TCont = sys_ms(),
                      _ = os:cmd("kill -CONT " ++ integer_to_list(PidB)),
                      {Ds, TCont}
                  after
                      os:cmd("kill -CONT " ++ integer_to_list(PidB))
                  end,
    timing("SIGSTOP of a C-node (heartbeat timeout ~p ms): nodedown after ~w ms "
           "(monitor_nodes, on_down any, on_down b)", [?HB_TIMEOUT, DownB]),
    %% SIGCONT (above): b comes back by itself.
    UpB = wait_event(A, {monitor, up, NB}, T4, ?CONVERGE) - T4,
    wait_event(A, {callback, up, NB}, T4, ?WAIT),
    await_members(Nodes, fun(_) -> Names end, ?CONVERGE),
    timing("SIGCONT: nodeup of b after ~p ms", [UpB]),
    roundtrip(A, B),
    %% The node-specific callback fired for b only; monitor_nodes saw
    %% down and up alternate per node; the crashing callback did not hurt
    %% partisan_monitor.
    Events = call(A, ?MODULE, events, []),
    ct:log("events on a: ~p", [Events]),
    ?assertEqual([NB], lists:usort([N || {watch, down, N, _} <- Events])),
    [?assertEqual({N, alternate}, {N, alternation([K || {monitor, K, N1, _} <- Events,
                                                         N1 =:= N])})
     || N <- [NB, NC]],
    ?assertEqual(MonitorA, call(A, erlang, whereis, [partisan_monitor])),
    ok.

%% Partition {a, b} | {c, d} with the fault-injection hook, then heal:
%% membership converges again by itself.
partition_heal(Config) ->
    [A, B, C, D] = Nodes = ?config(nodes, Config),
    [NA, NB, NC, ND] = Names = names(Nodes),
    form_cluster(Nodes),
    Control = fun(N, Req) -> call(N, partisan_cnode, control, [Req]) end,
    T0 = now_ms(),
    [?assertEqual(ok, Control(N, {fault, partition, [NC, ND]})) || N <- [A, B]],
    [?assertEqual(ok, Control(N, {fault, partition, [NA, NB]})) || N <- [C, D]],
    Halves = fun(N) when N =:= A; N =:= B -> [NA, NB];
                (_) -> [NC, ND]
             end,
    await_members(Nodes, Halves, ?WAIT),
    timing("partition: split seen everywhere within ~p ms", [now_ms() - T0]),
    %% The split holds (gossip does not cross it).
    stays(Nodes, Halves, 2000),
    ?assertMatch({error, {unknown_node, NC}},
                 call(A, partisan, forward_message, [NC, partisan_test_server, hi])),
    roundtrip(A, B),
    roundtrip(D, C),
    T1 = now_ms(),
    [?assertEqual(ok, Control(N, {fault, heal})) || N <- Nodes],
    await_members(Nodes, fun(_) -> Names end, ?CONVERGE),
    timing("heal: 4 nodes converged ~p ms after the heal calls", [now_ms() - T1]),
    roundtrip(A, D),
    roundtrip(C, B),
    ok.

%% New connections to a node beyond its first are spaced by
%% connect_interval; the listener has the configured backlog.
connect_pacing_and_backlog(Config) ->
    [A, B] = ?config(nodes, Config),
    NA = node_name(A),
    Links = 1 + ?PACED_LINKS,
    T0 = now_ms(),
    ?assertEqual(ok, call(B, partisan, join, [call(A, partisan, node_spec, [])])),
    wait_until("all of b's connections to a",
               fun() -> call(B, partisan, connections, []) end,
               fun(#{NA := Chans}) -> lists:sum(maps:values(Chans)) =:= Links;
                  (_) -> false
               end, ?WAIT),
    Elapsed = now_ms() - T0,
    %% The control link at once, the first paced one at once, then one per
    %% interval.
    MinExpected = (Links - 2) * ?CONNECT_INTERVAL,
    timing("~p connections to a new node, connect_interval ~p ms: ~p ms (at least ~p expected)",
           [Links, ?CONNECT_INTERVAL, Elapsed, MinExpected]),
    ?assert(Elapsed >= MinExpected * 9 div 10),
    ?assert(Elapsed < MinExpected + 5000),
    roundtrip(B, A),
    %% ss shows a listening socket's backlog as its Send-Q.
    [begin
         #{listen_addrs := [#{port := Port} | _]} = call(N, partisan, node_spec, []),
         Line = os:cmd("ss -ltnH 'sport = :" ++ integer_to_list(Port) ++ "'"),
         ct:log("listener of ~p: ~ts", [node_name(N), Line]),
         Backlog = integer_to_list(?BACKLOG),
         ?assertMatch(["LISTEN", _, Backlog | _], string:lexemes(Line, " \n"))
     end || N <- [A, B]],
    ok.

%%--------------------------------------------------------------------
%% The scenario run under every topology
%%--------------------------------------------------------------------

%% Application code, the same under every topology: node i joins node
%% i-1 (the answer must be JoinResult: ok, or {error, not_supported}
%% under static), everyone waits for its members (Expected(Node)) and
%% until it can send to every other node, then forward and cast round
%% trips between every ordered pair of nodes.
scenario(Nodes, JoinResult, Expected) ->
    T0 = now_ms(),
    [?assertEqual({JoinResult, node_name(N)},
                  {call(N, partisan_peer_service, join,
                        [call(Prev, partisan_peer_service, node_spec, [])]), node_name(N)})
     || {Prev, N} <- chain(Nodes)],
    await_members(Nodes, Expected, ?CONVERGE),
    [?assertEqual({ok, Expected(N)}, call(N, partisan_peer_service, members, []))
     || N <- Nodes],
    TMembers = now_ms() - T0,
    %% Every node can send to every other (under client_server a client
    %% may learn of the other clients a gossip round after its members).
    [wait_reachable(X, Y) || X <- Nodes, Y <- Nodes, X =/= Y],
    #{topology := Topology} = call(hd(Nodes), partisan, status, []),
    timing("scenario (~p): members as expected ~p ms after the joins, all reachable "
           "after ~p ms", [Topology, TMembers, now_ms() - T0]),
    [begin
         To = node_name(Y),
         ?assertMatch({{ok, #{from := To, same := true}}, _, _},
                      {call(X, partisan_test_server, roundtrip,
                            [To, {ps4, partisan_test_server, #{}}, {scenario, node_name(X)},
                             10000]), node_name(X), To}),
         ?assertMatch({{ok, To, _}, _, _},
                      {call(X, partisan_test_server, cast_roundtrip, [To, ps_cast4, 10000]),
                       node_name(X), To})
     end || X <- Nodes, Y <- Nodes, X =/= Y],
    ok.

%%--------------------------------------------------------------------
%% Run on the peers
%%--------------------------------------------------------------------

%% Starts the event collector (registered ?EVENTS): it subscribes with
%% monitor_nodes(true); on_up(any, arity 1) and on_down(any, arity 2)
%% report to it; a crashing on_up callback is registered too. Events are
%% {Source, up | down, Node, SystemTimeMs}, Source monitor | callback |
%% watch.
events_start() ->
    catch exit(whereis(?EVENTS), kill),
    Parent = self(),
    Pid = spawn(fun() ->
                        register(?EVENTS, self()),
                        ok = partisan:monitor_nodes(true),
                        Parent ! {?EVENTS, ready},
                        events_loop([])
                end),
    receive {?EVENTS, ready} -> ok after 5000 -> error(events_not_started) end,
    ok = partisan:on_up(any, fun() -> error(deliberate_crash_in_callback) end),
    ok = partisan:on_up(any, fun(N) -> ?EVENTS ! {event, callback, up, N, sys_ms()} end),
    ok = partisan_peer_service:on_down(
           any, fun(N, #{event := down, channels := [_ | _]}) ->
                        ?EVENTS ! {event, callback, down, N, sys_ms()}
                end),
    {ok, Pid}.

events_loop(Acc) ->
    receive
        {nodeup, N} -> events_loop([{monitor, up, N, sys_ms()} | Acc]);
        {nodedown, N} -> events_loop([{monitor, down, N, sys_ms()} | Acc]);
        {event, Src, Kind, N, T} -> events_loop([{Src, Kind, N, T} | Acc]);
        {get, From} -> From ! {?EVENTS, lists:reverse(Acc)}, events_loop(Acc)
    end.

events() ->
    ?EVENTS ! {get, self()},
    receive {?EVENTS, Events} -> Events after 5000 -> error(events_timeout) end.

%% on_down(Node, arity 0): reported as {watch, down, Node, T}.
watch_down(Node) ->
    partisan:on_down(Node, fun() -> ?EVENTS ! {event, watch, down, Node, sys_ms()} end).

%% monitor_nodes subscriptions end with monitor_nodes(false) and with the
%% subscriber's exit.
subscription_checks() ->
    Monitor = whereis(partisan_monitor),
    Monitors = fun() -> {monitors, Ms} = process_info(Monitor, monitors), Ms end,
    {Pid, Ref} = spawn_monitor(fun() ->
                                       ok = partisan:monitor_nodes(true),
                                       ok = partisan:monitor_nodes(true),
                                       receive stop -> ok end
                               end),
    ok = wait_local(fun() -> lists:member({process, Pid}, Monitors()) end),
    Pid ! stop,
    receive {'DOWN', Ref, process, Pid, _} -> ok end,
    ok = wait_local(fun() -> not lists:member({process, Pid}, Monitors()) end),
    Self = self(),
    ok = partisan:monitor_nodes(true),
    true = lists:member({process, Self}, Monitors()),
    ok = partisan:monitor_nodes(false),
    false = lists:member({process, Self}, Monitors()),
    ok = partisan:monitor_nodes(false),
    error = partisan:monitor_nodes(yes),
    ok.

wait_local(Fun) ->
    wait_local(Fun, 50).

wait_local(_Fun, 0) ->
    timeout;
wait_local(Fun, N) ->
    case Fun() of
        true -> ok;
        false -> timer:sleep(20), wait_local(Fun, N - 1)
    end.

%%--------------------------------------------------------------------
%% Helpers
%%--------------------------------------------------------------------

%% Starts the peers of a layout in parallel, then partisan on each (in
%% parallel): under static with a fixed port each and the static_peers
%% list of all of them.
start_nodes(none, [], _Config) ->
    [];
start_nodes(Topology, Specs, Config) ->
    Peers = parallel([fun() -> partisan_ct_helpers:start_peer(Short, Config) end
                      || {Short, _} <- Specs], []),
    TopologyEnv =
        case Topology of
            static ->
                Ports = free_ports(length(Peers)),
                Static = [{node_name(P), ?LOCALHOST, Port} || {P, Port} <- lists:zip(Peers, Ports)],
                [[{topology, static}, {listen_port, Port}, {static_peers, Static}]
                 || Port <- Ports];
            _ ->
                [[{topology, Topology}] || _ <- Peers]
        end,
    parallel([fun() ->
                      Env = lists:ukeymerge(1, lists:ukeysort(1, TEnv), lists:ukeysort(1, SEnv)),
                      partisan_ct_helpers:start_partisan(P, Env)
              end || {P, TEnv, {_, SEnv}} <- lists:zip3(Peers, TopologyEnv, Specs)], Peers).

%% Runs the funs in parallel; on any failure stops Cleanup and what was
%% started, and fails.
parallel(Funs, Cleanup) ->
    Self = self(),
    Refs = [begin
                Ref = make_ref(),
                _ = spawn(fun() ->
                                  Self ! {Ref, try {ok, F()} catch C:R:S -> {C, R, S} end}
                          end),
                Ref
            end || F <- Funs],
    Results = [receive {Ref, R} -> R after 120000 -> {error, timeout, []} end || Ref <- Refs],
    case [R || R <- Results, element(1, R) =/= ok] of
        [] ->
            [V || {ok, V} <- Results];
        Failed ->
            _ = partisan_ct_helpers:stop_nodes([V || {ok, V} <- Results] ++ Cleanup),
            ct:fail({start_failed, Failed})
    end.

free_ports(N) ->
    Sockets = [begin
                   {ok, S} = gen_tcp:listen(0, [{ip, ?LOCALHOST}, {reuseaddr, true}]),
                   S
               end || _ <- lists:seq(1, N)],
    Ports = [begin {ok, P} = inet:port(S), P end || S <- Sockets],
    [gen_tcp:close(S) || S <- Sockets],
    Ports.

%% Consecutive pairs: [{N1, N2}, {N2, N3}, ...].
chain([_]) -> [];
chain([X, Y | Rest]) -> [{X, Y} | chain([Y | Rest])].

%% Everyone but the first joins the first; wait until all agree.
form_cluster([First | Rest] = Nodes) ->
    Spec = call(First, partisan, node_spec, []),
    [?assertEqual(ok, call(N, partisan, join, [Spec])) || N <- Rest],
    Names = names(Nodes),
    await_members(Nodes, fun(_) -> Names end, ?CONVERGE).

%% Waits (bounded, Timeout ms in all) until members() on every node is
%% Expected(Node).
await_members(Nodes, Expected, Timeout) ->
    Deadline = now_ms() + Timeout,
    [wait_until(io_lib:format("members() on ~p to be ~p", [node_name(N), Expected(N)]),
                fun() -> call(N, partisan, members, []) end,
                fun(Members) -> Members =:= Expected(N) end,
                max(0, Deadline - now_ms()))
     || N <- Nodes],
    ok.

%% members() on every node stays Expected(Node) for Duration ms.
stays(Nodes, Expected, Duration) ->
    Deadline = now_ms() + Duration,
    Loop = fun Loop() ->
                   [?assertEqual({node_name(N), Expected(N)},
                                 {node_name(N), call(N, partisan, members, [])})
                    || N <- Nodes],
                   case now_ms() < Deadline of
                       true -> timer:sleep(250), Loop();
                       false -> ok
                   end
           end,
    Loop().

%% Waits for the event {Source, Kind, Node, T} with T >= Since in the
%% collector of peer N; returns T.
wait_event(N, {Src, Kind, Node}, Since, Timeout) ->
    Found = wait_until(io_lib:format("~p ~p event of ~p on ~p", [Src, Kind, Node, node_name(N)]),
                       fun() ->
                               [T || {S, K, Nd, T} <- call(N, ?MODULE, events, []),
                                     S =:= Src, K =:= Kind, Nd =:= Node, T >= Since]
                       end,
                       fun(Ts) -> Ts =/= [] end, Timeout),
    hd(Found).

%% Waits (bounded) until From may send to To (forward_message does not
%% answer unknown_node); the probe goes to a name nobody registers.
wait_reachable(From, To) ->
    NTo = node_name(To),
    wait_until(io_lib:format("~p to reach ~p", [node_name(From), NTo]),
               fun() -> call(From, partisan, forward_message,
                             [NTo, partisan_topology_nobody, probe]) end,
               fun(R) -> R =:= ok end, ?WAIT).

%% up/down alternate, starting with up.
alternation(Kinds) ->
    Expected = lists:sublist(lists:append(lists:duplicate(length(Kinds), [up, down])),
                             length(Kinds)),
    case Kinds =:= Expected of
        true -> alternate;
        false -> {not_alternating, Kinds}
    end.

roundtrip(From, To) ->
    NTo = node_name(To),
    ?assertMatch({{ok, #{from := NTo, same := true, digest_ok := true}}, _, _},
                 {call(From, partisan_test_server, roundtrip,
                       [NTo, {fwd3, partisan_test_server}, {hello, node_name(From)}, 10000]),
                  node_name(From), NTo}).

arg(Option, Args) ->
    case args(Option, Args) of
        [Value] -> Value;
        Values -> {not_one, Option, Values}
    end.

args(Option, [Option, Value | Rest]) -> [Value | args(Option, Rest)];
args(Option, [_ | Rest]) -> args(Option, Rest);
args(_Option, []) -> [].

timing(Format, Args) ->
    ct:pal("timing: " ++ Format, Args).

now_ms() ->
    erlang:monotonic_time(millisecond).

%% Comparable between this node and the peers (same machine).
sys_ms() ->
    erlang:system_time(millisecond).
