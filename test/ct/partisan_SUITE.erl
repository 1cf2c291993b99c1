%% End-to-end tests of partisan: BEAM peers (OTP `peer', connection
%% standard_io, so no Distributed Erlang between them or with this node),
%% each running the partisan application and its C-node.
%%
%% Run from the top of the repository:
%%   ERL_EPMD_PORT=43791 ERL_EPMD_ADDRESS=127.0.0.1 rebar3 ct --dir test/ct
-module(partisan_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-import(partisan_ct_helpers, [call/4, call/5, node_name/1, names/1, form_cluster/1,
                              wait_members/2, wait_until/4, os_pid_alive/1,
                              wait_os_pid_gone/2]).

-export([all/0, suite/0,
         init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).

-export([config/1,
         membership/1,
         forwarding/1,
         fidelity_and_order/1,
         errors/1,
         leave/1,
         wrong_cookie/1,
         malformed_frames/1,
         kill_node/1,
         application_stop/1,
         cnode_crash/1,
         control_timeout/1]).

-define(WAIT, 15000).          % bound of every wait loop, ms
-define(CALL_TIMEOUT, 30000).  % peer:call timeout, ms
-define(CHANNELS, #{bulk => #{parallelism => 2},
                    ordered => #{parallelism => 1, monotonic => true}}).

all() ->
    [config,
     membership,
     forwarding,
     fidelity_and_order,
     errors,
     leave,
     wrong_cookie,
     malformed_frames,
     kill_node,
     application_stop,
     cnode_crash,
     control_timeout].

suite() ->
    [{timetrap, {minutes, 3}}].

%%--------------------------------------------------------------------
%% Setup
%%--------------------------------------------------------------------

init_per_suite(Config) ->
    partisan_ct_helpers:init_suite(Config).

end_per_suite(_Config) ->
    ok.

%% Nodes each test case starts (partisan running, cluster not formed),
%% with the partisan env to set on them.
nodes_for(config) -> [];
nodes_for(membership) -> [a, b, c];
nodes_for(forwarding) -> [a, b, c];
nodes_for(fidelity_and_order) -> [a, b];
nodes_for(errors) -> [a, b];
nodes_for(leave) -> [a, b, c];
nodes_for(wrong_cookie) -> [a, b, {d, [{cookie, <<"not the cluster secret">>}]}];
nodes_for(malformed_frames) -> [a, b];
nodes_for(kill_node) -> [a, b, c];
nodes_for(application_stop) -> [a, b];
nodes_for(cnode_crash) -> [a, b];
nodes_for(control_timeout) -> [a].

init_per_testcase(TestCase, Config) ->
    Nodes = [start_node(N, Config) || N <- nodes_for(TestCase)],
    [{nodes, Nodes} | Config].

end_per_testcase(_TestCase, Config) ->
    partisan_ct_helpers:stop_nodes(?config(nodes, Config)).

%%--------------------------------------------------------------------
%% Test cases
%%--------------------------------------------------------------------

%% Configuration validation and the C-node command line (on this node,
%% no peers).
config(Config) ->
    Env = application:get_all_env(partisan),
    try
        config_checks(?config(priv_dir, Config))
    after
        [application:unset_env(partisan, K) || {K, _} <- application:get_all_env(partisan)],
        [application:set_env(partisan, K, V) || {K, V} <- Env]
    end.

config_checks(PrivDir) ->
    Set = fun(KVs) -> [ok = application:set_env(partisan, K, V) || {K, V} <- KVs] end,
    Set([{cookie, <<"s3cret">>}]),
    {ok, C0} = partisan_config:load(),
    ?assertMatch(#{listen_ip := {127, 0, 0, 1}, listen_port := 0, topology := full_mesh,
                   parallelism := 1, gossip_interval := 1000, gossip_fanout := 3,
                   max_message_size := 134217728, cnode_log_level := info,
                   ready_timeout := 10000, cluster_secret := <<"s3cret">>,
                   channels := #{undefined := #{parallelism := 1, monotonic := false}}}, C0),
    ?assertEqual(["--beam-node", "a@h", "--cnode-name", "partisan_a_1@h",
                  "--listen-ip", "127.0.0.1", "--listen-port", "0",
                  "--topology", "full_mesh", "--parallelism", "1",
                  "--gossip-interval-ms", "1000", "--gossip-fanout", "3",
                  "--heartbeat-interval-ms", "1000", "--heartbeat-timeout-ms", "10000",
                  "--connect-interval-ms", "20", "--listen-backlog", "1024",
                  "--max-pending-handshakes", "256", "--max-pending-per-address", "32",
                  "--max-members", "1024", "--beam-timeout-ms", "10000",
                  "--down-after-ms", "300000",
                  "--max-message-bytes", "134217728",
                  "--max-active-size", "6", "--max-passive-size", "30", "--arwl", "6", "--prwl", "3",
                  "--shuffle-interval-ms", "10000", "--shuffle-k-active", "3", "--shuffle-k-passive", "4",
                  "--random-promotion-interval-ms", "5000", "--announce-interval-ms", "10000",
                  "--lazy-tick-period-ms", "200", "--graft-timeout-ms", "1000",
                  "--broadcast-catch-up-ms", "5000", "--max-hops", "16",
                  "--member-timeout-ms", "30000", "--amqp-window-bytes", "67108864",
                  "--amqp-window-messages", "100000", "--amqp-prefetch", "512",
                  "--amqp-max-message-bytes", "134217728",
                  "--amqp-queue-expiry-ms", "3600000",
                  "--log-level", "info"],
                 partisan_config:cnode_args(C0, 'a@h', 'partisan_a_1@h')),
    %% Hex, so that every byte arrives as it is (docs/SHIM_INTERFACE.md).
    ?assertEqual(<<"beam-cookie 636B\ncluster-secret 733363726574\nend\n">>,
                 iolist_to_binary(partisan_config:secrets_input(ck, C0))),
    ?assertNot(lists:member(<<"s3cret">>, maps:values(partisan_config:redact(C0)))),
    ?assertEqual('partisan_a_1234@host', partisan_cnode:cnode_name('a@host', 1234)),
    Set([{listen_ip, "0.0.0.0"}, {listen_port, 4000}, {advertise_ip, {10, 0, 0, 1}},
         {parallelism, 4}, {cnode_log_level, debug},
         {channels, #{gossip => #{monotonic => true}, data => #{parallelism => 8},
                      undefined => #{parallelism => 2}}}]),
    {ok, C1} = partisan_config:load(),
    ?assertEqual(#{undefined => #{parallelism => 2, monotonic => false, durable => false},
                   gossip => #{parallelism => 4, monotonic => true, durable => false},
                   data => #{parallelism => 8, monotonic => false, durable => false}},
                 partisan_config:channels(C1)),
    Args1 = partisan_config:cnode_args(C1, 'a@h', 'partisan_a_1@h'),
    ct:log("args: ~p", [Args1]),
    ?assertMatch(["--beam-node", "a@h", "--cnode-name", "partisan_a_1@h",
                  "--listen-ip", "0.0.0.0", "--listen-port", "4000",
                  "--advertise-ip", "10.0.0.1", "--topology", "full_mesh",
                  "--channel", "data:8", "--channel", "gossip:4:monotonic",
                  "--channel", "undefined:2", "--parallelism", "4" | _], Args1),
    ?assertEqual(["--log-level", "debug"], lists:nthtail(length(Args1) - 2, Args1)),
    Set([{channels, [one, two]}]),
    {ok, C2} = partisan_config:load(),
    ?assertEqual([one, two, undefined], lists:sort(maps:keys(partisan_config:channels(C2)))),
    %% The cluster secret from a file: its first line, byte for byte.
    File = filename:join(PrivDir, "secret"),
    ok = file:write_file(File, <<"from-file\nsecond line\n">>),
    Set([{cookie, {file, File}}]),
    ?assertMatch({ok, #{cluster_secret := <<"from-file">>}}, partisan_config:load()),
    ok = file:write_file(File, <<" abc#one part \r\nsecond line\n">>),
    ?assertMatch({ok, #{cluster_secret := <<" abc#one part ">>}}, partisan_config:load()),
    Set([{cookie, <<"two\nlines\0">>}]),
    ?assertMatch({ok, #{cluster_secret := <<"two\nlines\0">>}}, partisan_config:load()),
    Set([{cookie, "a string"}]),
    ?assertMatch({ok, #{cluster_secret := <<"a string">>}}, partisan_config:load()),
    Set([{cookie, an_atom}]),
    ?assertMatch({ok, #{cluster_secret := <<"an_atom">>}}, partisan_config:load()),
    %% This node is not distributed: its Erlang cookie cannot be the secret.
    Set([{cookie, erlang}]),
    ?assertEqual({error, not_distributed}, partisan_config:load()),
    Set([{cookie, <<"ok">>}]),
    %% Bad values.
    Bad = [{listen_ip, "not an ip"}, {listen_ip, {1, 2, 3}}, {listen_port, 70000},
           {listen_port, -1}, {advertise_ip, bad}, {topology, ring},
           {parallelism, 0}, {gossip_interval, 0}, {gossip_fanout, x},
           {max_message_size, -5}, {cnode_log_level, loud}, {ready_timeout, infinity},
           {channels, not_channels}, {channels, [<<"bin">>]},
           {channels, #{c => #{parallelism => 0}}}, {channels, #{c => #{bogus => 1}}},
           {channels, #{c => #{monotonic => maybe}}}, {channels, #{'a:b' => #{}}}],
    [begin
         Old = application:get_env(partisan, K),
         ok = application:set_env(partisan, K, V),
         ?assertEqual({error, {bad_config, {K, V}}}, partisan_config:load()),
         case Old of
             {ok, OldV} -> application:set_env(partisan, K, OldV);
             undefined -> application:unset_env(partisan, K)
         end
     end || {K, V} <- Bad],
    [begin
         Set([{cookie, V}]),
         ?assertMatch({error, {bad_config, {cookie, _}}}, partisan_config:load())
     end || V <- [<<>>, binary:copy(<<"x">>, 4097), 42, {file, filename:join(PrivDir, "nofile")}]],
    ok.

%% b and c join a; everyone sees the same three members; the BEAMs are not
%% connected to each other, only each to its own C-node.
membership(Config) ->
    [A, B, C] = Nodes = ?config(nodes, Config),
    Names = names(Nodes),
    Spec = call(A, partisan, node_spec, []),
    #{name := NameA, listen_addrs := [#{ip := _, port := _} | _], channels := Chans} = Spec,
    ?assertEqual(NameA, node_name(A)),
    ?assertMatch(#{undefined := #{parallelism := 1, monotonic := false},
                   bulk := #{parallelism := 2, monotonic := false},
                   ordered := #{parallelism := 1, monotonic := true}}, Chans),
    ?assertEqual([bulk, ordered, undefined], call(A, partisan, channels, [])),
    ?assertEqual([node_name(A)], call(A, partisan, members, [])),
    ?assertEqual(ok, call(B, partisan, join, [Spec])),
    ?assertEqual(ok, call(C, partisan_peer_service, join, [Spec])),
    wait_members(Nodes, Names),
    [begin
         ?assertEqual([], call(N, erlang, nodes, [])),
         %% Only its own C-node's links: one per channel.
         #{links := Links} = call(N, partisan, status, []),
         ?assertEqual(lists:sort(call(N, partisan, channels, [])),
                      lists:sort(maps:keys(Links))),
         ?assertEqual(maps:get(links, N), Links),
         ?assertEqual(maps:size(Links), length(lists:usort(maps:values(Links)))),
         ?assertEqual(own_links(N), lists:sort(call(N, erlang, nodes, [hidden]))),
         ?assertEqual({ok, Names}, call(N, partisan_peer_service, members, [])),
         [?assert(call(N, partisan, member, [M])) || M <- Names],
         ?assertNot(call(N, partisan, member, ['nobody@nowhere']))
     end || N <- Nodes],
    ok.

%% forward_message/3,4,5 to a name and to a pid, replies back through
%% partisan to a pid on the sender; cast_message reaches handle_cast.
forwarding(Config) ->
    [A, B, C] = Nodes = ?config(nodes, Config),
    form_cluster(Nodes),
    NB = node_name(B),
    NC = node_name(C),
    PidB = call(B, erlang, whereis, [partisan_test_server]),
    ?assert(is_pid(PidB)),
    Term = {hello, [1, 2, 3], #{x => y}},
    Hows = [{fwd3, partisan_test_server},
            {fwd3, PidB},
            {fwd3, {partisan_test_server, NB}},
            {fwd4, partisan_test_server, #{}},
            {fwd4, PidB, [{channel, bulk}]},
            {fwd4, partisan_test_server, #{channel => bulk, partition_key => 12345}},
            {fwd4, partisan_test_server, #{channel => bulk, partition_key => {some, key}}},
            {fwd4, PidB, #{channel => ordered, ack => false, transitive => false}},
            {fwd5, undefined, partisan_test_server, #{}},
            {fwd5, undefined, PidB, []},
            {fwd5, bulk, {partisan_test_server, NB}, #{partition_key => -7}},
            {ps3, partisan_test_server},
            {ps4, PidB, #{}}],
    [begin
         ct:log("a -> b with ~p", [How]),
         ?assertMatch({{ok, #{from := NB, same := true, digest_ok := true}}, _},
                      {call(A, partisan_test_server, roundtrip, [NB, How, Term, 10000]), How})
     end || How <- Hows],
    %% Both directions, and the third node.
    ?assertMatch({ok, #{from := NC, same := true}},
                 call(B, partisan_test_server, roundtrip,
                      [NC, {fwd3, partisan_test_server}, Term, 10000])),
    ?assertMatch({ok, #{same := true}},
                 call(C, partisan_test_server, roundtrip,
                      [node_name(A), {fwd3, partisan_test_server}, Term, 10000])),
    %% Local delivery.
    ?assertMatch({ok, #{same := true}},
                 call(A, partisan_test_server, roundtrip,
                      [node_name(A), {fwd3, partisan_test_server}, Term, 10000])),
    %% Casts reach the gen_server's handle_cast.
    Pings = [begin
                 R = call(A, partisan_test_server, cast_roundtrip, [NB, How, 10000]),
                 ?assertMatch({{ok, NB, _}, _}, {R, How}),
                 element(3, R)
             end || How <- [cast3, cast4, cast5, ps_cast4]],
    ?assertEqual(Pings, call(B, partisan_test_server, casts, [])),
    ok.

%% Binaries of 64 MiB, nested terms, pids, refs, funs arrive =:=; 10,000
%% messages from one sender arrive in order.
fidelity_and_order(Config) ->
    [A, B] = Nodes = ?config(nodes, Config),
    form_cluster(Nodes),
    NB = node_name(B),
    Terms = call(A, partisan_test_server, fidelity_terms, []),
    [begin
         ct:log("fidelity: ~p", [Name]),
         ?assertMatch({{ok, #{from := NB, same := true, digest_ok := true}}, _},
                      {call(A, partisan_test_server, roundtrip,
                            [NB, {fwd3, partisan_test_server}, T, 10000]), Name})
     end || {Name, T} <- Terms],
    %% The 64 MiB binary is made on the sender (not sent over peer's stdio).
    Big = call(A, erlang, apply,
               [fun() ->
                        Bin = rand:bytes(64 * 1024 * 1024),
                        T0 = erlang:monotonic_time(millisecond),
                        R = partisan_test_server:roundtrip(
                              NB, {fwd3, partisan_test_server}, {big, Bin}, 60000),
                        {R, erlang:monotonic_time(millisecond) - T0}
                end, []], 90000),
    ct:log("64 MiB round trip: ~p", [Big]),
    ?assertMatch({{ok, #{from := NB, same := true, digest_ok := true}}, _}, Big),
    %% Ordering.
    N = 10000,
    {ok, _} = call(B, partisan_test_server, start_seq_collector, []),
    T0 = erlang:monotonic_time(millisecond),
    ?assertEqual(ok, call(A, partisan_test_server, send_seq, [NB, N, #{}], 60000)),
    wait_until("10000 sequence messages on b",
               fun() -> call(B, partisan_test_server, seq_result, []) end,
               fun(R) -> R =:= {N, ok} orelse element(2, R) =/= ok end, 30000),
    ?assertEqual({N, ok}, call(B, partisan_test_server, seq_result, [])),
    ct:log("~p ordered messages in ~p ms", [N, erlang:monotonic_time(millisecond) - T0]),
    %% And on a monotonic channel with a fixed partition key.
    {ok, _} = call(B, partisan_test_server, start_seq_collector, []),
    ?assertEqual(ok, call(A, partisan_test_server, send_seq,
                          [NB, 2000, #{channel => bulk, partition_key => 3}], 60000)),
    wait_until("2000 sequence messages on channel bulk",
               fun() -> call(B, partisan_test_server, seq_result, []) end,
               fun(R) -> R =:= {2000, ok} orelse element(2, R) =/= ok end, 30000),
    ?assertEqual({2000, ok}, call(B, partisan_test_server, seq_result, [])),
    ok.

errors(Config) ->
    [A, B] = Nodes = ?config(nodes, Config),
    form_cluster(Nodes),
    NA = node_name(A),
    NB = node_name(B),
    Fwd = fun(Args) -> call(A, partisan, forward_message, Args) end,
    ?assertMatch({error, {unknown_node, 'nobody@nowhere'}},
                 Fwd(['nobody@nowhere', partisan_test_server, hi])),
    ?assertMatch({error, {unknown_node, _}},
                 Fwd(['nobody@nowhere', partisan_test_server, hi, #{}])),
    ?assertMatch({error, {bad_option, _}},
                 Fwd([NB, partisan_test_server, hi, #{bogus => 1}])),
    ?assertMatch({error, {bad_option, _}},
                 Fwd([NB, partisan_test_server, hi, [bogus]])),
    ?assertMatch({error, {bad_option, _}},
                 Fwd([NB, partisan_test_server, hi, not_opts])),
    ?assertEqual({error, {unsupported_option, ack}},
                 Fwd([NB, partisan_test_server, hi, #{ack => true}])),
    ?assertEqual({error, {unsupported_option, transitive}},
                 Fwd([NB, partisan_test_server, hi, [{transitive, true}]])),
    ?assertEqual({error, {unknown_channel, nochan}},
                 Fwd([NB, partisan_test_server, hi, #{channel => nochan}])),
    ?assertEqual({error, {unknown_channel, nochan}},
                 call(A, partisan, forward_message, [NB, nochan, partisan_test_server, hi, #{}])),
    ?assertMatch({error, {bad_server_ref, _}},
                 Fwd([NB, {partisan_test_server, NA}, hi])),
    ?assertMatch({error, {bad_server_ref, _}},
                 Fwd([NB, call(A, erlang, whereis, [partisan_test_server]), hi])),
    ?assertMatch({error, {bad_server_ref, _}}, Fwd([NB, "string", hi])),
    SpecA = call(A, partisan, node_spec, []),
    ?assertEqual({error, self_join}, call(A, partisan, join, [SpecA])),
    ?assertEqual({error, self_join}, call(A, partisan_peer_service, join, [SpecA])),
    ?assertMatch({error, {bad_node_spec, _}}, call(A, partisan, join, [#{name => NB}])),
    ?assertMatch({error, {bad_node_spec, _}}, call(A, partisan, join, [not_a_spec])),
    %% No addresses: only a broker topology (pubsub) can do without.
    ?assertEqual({error, {no_address, NB}}, call(A, partisan, join, [#{name => NB, listen_addrs => []}])),
    %% A request the C-node does not know is answered, with the request.
    ?assertEqual({error, {bad_request, {bogus, [1, 2]}}},
                 call(A, partisan_cnode, control, [{bogus, [1, 2]}])),
    %% A join to an address where nothing listens is an error, and leaves no trace.
    {ok, L} = gen_tcp:listen(0, [{ip, {127,0,0,1}}]),
    {ok, FreePort} = inet:port(L),
    ok = gen_tcp:close(L),
    ?assertMatch({error, {unreachable, 'ghost@nowhere', _}},
                 call(A, partisan, join, [{'ghost@nowhere', {127,0,0,1}, FreePort}])),
    %% Errors changed nothing.
    wait_members(Nodes, names(Nodes)),
    ?assertMatch({ok, #{same := true}},
                 call(A, partisan_test_server, roundtrip,
                      [NB, {fwd3, partisan_test_server}, ping, 10000])),
    %% Configuration errors fail the start cleanly.
    ok = call(B, application, stop, [partisan]),
    ok = call(B, application, set_env, [partisan, topology, ring]),
    {error, Reason1} = call(B, application, start, [partisan]),
    ct:log("bad topology: ~p", [Reason1]),
    ?assertMatch({{bad_config, {topology, ring}}, _}, Reason1),
    ok = call(B, application, set_env, [partisan, topology, full_mesh]),
    ok = call(B, application, set_env, [partisan, gossip_fanout, -1]),
    ?assertMatch({error, {{bad_config, {gossip_fanout, -1}}, _}},
                 call(B, application, start, [partisan])),
    ok = call(B, application, unset_env, [partisan, gossip_fanout]),
    ok = call(B, application, set_env, [partisan, channels, #{bulk => #{parallelism => 0}}]),
    ?assertMatch({error, {{bad_config, {channels, _}}, _}},
                 call(B, application, start, [partisan])),
    ok = call(B, application, set_env, [partisan, channels, ?CHANNELS]),
    ?assertEqual({error, not_running}, call(B, partisan, node_spec, [])),
    ?assertEqual({error, not_running}, call(B, partisan, status, [])),
    ?assertEqual({error, not_running}, call(B, partisan, forward_message, [NA, x, hi])),
    ?assertEqual({error, not_running}, call(B, partisan, stats, [])),
    ?assertEqual({error, not_running}, call(B, partisan, connections, [])),
    ?assertEqual({error, not_running}, call(B, partisan, join, [SpecA])),
    ?assertEqual([NB], call(B, partisan, members, [])),
    %% Not distributed: this test node.
    {error, Reason2} = application:ensure_all_started(partisan),
    ct:log("not distributed: ~p", [Reason2]),
    ?assertMatch({partisan, {not_distributed, _}}, Reason2),
    ok.

%% c leaves, rejoins; a removes b.
leave(Config) ->
    [A, B, C] = Nodes = ?config(nodes, Config),
    form_cluster(Nodes),
    [NA, NB, NC] = names(Nodes),
    ?assertEqual(ok, call(C, partisan, leave, [])),
    wait_members([A, B], [NA, NB]),
    wait_members([C], [NC]),
    ?assertMatch({error, {unknown_node, NC}},
                 call(A, partisan, forward_message, [NC, partisan_test_server, hi])),
    %% c joins again (through b this time).
    ?assertEqual(ok, call(C, partisan, join, [call(B, partisan, node_spec, [])])),
    wait_members(Nodes, [NA, NB, NC]),
    ?assertMatch({ok, #{same := true}},
                 call(C, partisan_test_server, roundtrip,
                      [NA, {fwd3, partisan_test_server}, back, 10000])),
    %% a removes b.
    ?assertEqual(ok, call(A, partisan, leave, [NB])),
    wait_members([A, C], [NA, NC]),
    %% Stays that way.
    timer:sleep(3000),
    ?assertEqual([NA, NC], call(A, partisan, members, [])),
    ?assertEqual([NA, NC], call(C, partisan, members, [])),
    ?assertEqual(ok, call(A, partisan_peer_service, leave, [])),
    wait_members([A], [NA]),
    ok.

%% d's cluster secret differs: it never becomes a member.
wrong_cookie(Config) ->
    [A, B, D] = ?config(nodes, Config),
    form_cluster([A, B]),
    [NA, NB, ND] = names([A, B, D]),
    Result = call(D, partisan, join, [call(A, partisan, node_spec, [])]),
    ct:log("join with a wrong secret: ~p", [Result]),
    %% a checks the joiner's proof of the secret first, and refuses it.
    ?assertMatch({error, {refused, NA, _}}, Result),
    Deadline = erlang:monotonic_time(millisecond) + 5000,
    Check = fun Loop() ->
                    ?assertEqual([NA, NB], call(A, partisan, members, [])),
                    ?assertEqual([NA, NB], call(B, partisan, members, [])),
                    ?assertEqual([ND], call(D, partisan, members, [])),
                    ?assertMatch({error, {unknown_node, _}},
                                 call(D, partisan, forward_message,
                                      [NA, partisan_test_server, hi])),
                    case erlang:monotonic_time(millisecond) < Deadline of
                        true -> timer:sleep(250), Loop();
                        false -> ok
                    end
            end,
    Check(),
    %% a and b still work.
    ?assertMatch({ok, #{same := true}},
                 call(A, partisan_test_server, roundtrip,
                      [NB, {fwd3, partisan_test_server}, still_fine, 10000])),
    ok.

%% Garbage on a C-node's listen port does not hurt it.
malformed_frames(Config) ->
    [A, B] = Nodes = ?config(nodes, Config),
    form_cluster(Nodes),
    NB = node_name(B),
    #{listen_addrs := [#{ip := Ip, port := Port} | _]} = call(A, partisan, node_spec, []),
    Connect = fun() ->
                      {ok, S} = gen_tcp:connect(Ip, Port, [binary, {active, false}], 5000),
                      S
              end,
    Send = fun(S, Data) -> _ = gen_tcp:send(S, Data), ok end,
    %% A connection left open and idle for the whole test.
    Idle = Connect(),
    %% Huge length header, then random bytes.
    S1 = Connect(),
    Send(S1, [<<16#FFFFFFFF:32>>, rand:bytes(4096)]),
    %% A plausible length and a truncated body.
    S2 = Connect(),
    Send(S2, [<<1000:32>>, <<131, 104, 2>>]),
    %% Random bytes.
    S3 = Connect(),
    Send(S3, rand:bytes(65536)),
    %% Zero length frames, tiny frames.
    S4 = Connect(),
    Send(S4, [<<0:32>>, <<0:32>>, <<1:32, 0>>, <<5:32, 131, 100, 0, 1, $a>>]),
    %% Connect and close at once.
    S5 = Connect(),
    %% A length just under the largest message, a little of the body, kept
    %% open (must not hold the C-node up).
    S6 = Connect(),
    Send(S6, [<<(128 * 1024 * 1024 - 1):32>>, rand:bytes(1024 * 1024)]),
    timer:sleep(500),
    [gen_tcp:close(S) || S <- [S1, S2, S3, S4, S5]],
    %% A burst of connections sending a huge header each.
    [begin S = Connect(), Send(S, <<16#7FFFFFFF:32, 1, 2, 3>>), gen_tcp:close(S) end
     || _ <- lists:seq(1, 20)],
    timer:sleep(1000),
    %% a's C-node is alive, membership unchanged, messages flow both ways.
    #{cnode_os_pid := PidA} = A,
    ?assert(os_pid_alive(PidA)),
    ?assertEqual(names(Nodes), call(A, partisan, members, [])),
    ?assertEqual(names(Nodes), call(B, partisan, members, [])),
    ?assertMatch({ok, #{from := NB, same := true}},
                 call(A, partisan_test_server, roundtrip,
                      [NB, {fwd3, partisan_test_server}, after_garbage, 10000])),
    ?assertMatch({ok, #{same := true}},
                 call(B, partisan_test_server, roundtrip,
                      [node_name(A), {fwd3, partisan_test_server}, after_garbage, 10000])),
    gen_tcp:close(Idle),
    gen_tcp:close(S6),
    ok.

%% kill -9 a BEAM: the others drop it, its C-node exits.
kill_node(Config) ->
    [A, B, C] = Nodes = ?config(nodes, Config),
    form_cluster(Nodes),
    [NA, NB, _NC] = names(Nodes),
    #{os_pid := BeamPid, cnode_os_pid := CNodePid} = C,
    ?assert(os_pid_alive(CNodePid)),
    _ = os:cmd("kill -9 " ++ integer_to_list(BeamPid)),
    wait_members([A, B], [NA, NB]),
    ?assert(wait_os_pid_gone(CNodePid, ?WAIT), "the killed BEAM's C-node is still running"),
    ?assertMatch({ok, #{same := true}},
                 call(A, partisan_test_server, roundtrip,
                      [NB, {fwd3, partisan_test_server}, survivors, 10000])),
    ok.

%% application:stop(partisan) stops the C-node; starting again works.
application_stop(Config) ->
    [A, B] = Nodes = ?config(nodes, Config),
    form_cluster(Nodes),
    [NA, NB] = names(Nodes),
    #{cnode_os_pid := CNodePid} = B,
    ?assertEqual(ok, call(B, application, stop, [partisan])),
    ?assert(wait_os_pid_gone(CNodePid, 5000), "C-node still running after application:stop"),
    ?assertEqual({error, not_running}, call(B, partisan, status, [])),
    ?assertEqual({error, not_running}, call(B, partisan, forward_message,
                                            [NA, partisan_test_server, hi])),
    ?assertEqual([], call(B, erlang, nodes, [hidden])),
    wait_members([A], [NA]),
    %% Start again, same C-node name, join again.
    ?assertMatch({ok, _}, call(B, application, ensure_all_started, [partisan])),
    #{os_pid := NewPid} = call(B, partisan, status, []),
    ?assertEqual(ok, call(B, partisan, join, [call(A, partisan, node_spec, [])])),
    wait_members(Nodes, [NA, NB]),
    ?assertMatch({ok, #{same := true}},
                 call(B, partisan_test_server, roundtrip,
                      [NA, {fwd3, partisan_test_server}, again, 10000])),
    ?assertEqual(ok, call(B, application, stop, [partisan])),
    ?assert(wait_os_pid_gone(NewPid, 5000), "C-node still running after application:stop"),
    ok.

%% kill -9 a C-node: its BEAM's partisan restarts it (same name, new OS
%% process), and the node rejoins the cluster by itself.
cnode_crash(Config) ->
    [A, B] = Nodes = ?config(nodes, Config),
    form_cluster(Nodes),
    [NA, NB] = names(Nodes),
    #{cnode_os_pid := OldPid, cnode := CNode} = B,
    _ = os:cmd("kill -9 " ++ integer_to_list(OldPid)),
    Status = wait_until("a new C-node on b",
                        fun() -> call(B, partisan, status, []) end,
                        fun(#{os_pid := P}) -> P =/= OldPid;
                           (_) -> false
                        end, ?WAIT),
    ?assertMatch(#{cnode := CNode}, Status),
    ?assertEqual(lists:usort([CNode | maps:values(maps:get(links, Status))]),
                 lists:sort(call(B, erlang, nodes, [hidden]))),
    wait_members(Nodes, [NA, NB]),
    ?assertMatch({ok, #{same := true}},
                 call(A, partisan_test_server, roundtrip,
                      [NB, {fwd3, partisan_test_server}, restarted, 10000])),
    #{os_pid := NewPid} = Status,
    ok = call(B, application, stop, [partisan]),
    ?assert(wait_os_pid_gone(NewPid, 5000), "restarted C-node still running after stop"),
    ok.

%% A C-node that does not answer: control calls time out, the late answer
%% is dropped, later calls work.
control_timeout(Config) ->
    [A] = ?config(nodes, Config),
    #{cnode_os_pid := Pid} = A,
    _ = os:cmd("kill -STOP " ++ integer_to_list(Pid)),
    T0 = erlang:monotonic_time(millisecond),
    Result = (catch call(A, partisan, leave, ['nobody@nowhere'])),
    Elapsed = erlang:monotonic_time(millisecond) - T0,
    _ = os:cmd("kill -CONT " ++ integer_to_list(Pid)),
    ct:log("stopped C-node: ~p after ~p ms", [Result, Elapsed]),
    ?assertEqual({error, timeout}, Result),
    ?assert(Elapsed >= 4500 andalso Elapsed < 9000),
    ?assertMatch({error, {unknown_node, 'nobody@nowhere'}},
                 call(A, partisan, leave, ['nobody@nowhere'])),
    ?assertMatch(#{os_pid := Pid}, call(A, partisan, status, [])),
    ok.

%%--------------------------------------------------------------------
%% Helpers
%%--------------------------------------------------------------------

start_node(Node, Config) ->
    partisan_ct_helpers:start_node(Node, [{channels, ?CHANNELS}], Config).

%% The hidden nodes a BEAM must see: its own C-node's links (one per
%% channel), nothing else.
own_links(#{cnode := CNode, links := Links}) ->
    lists:usort([CNode | maps:values(Links)]).
