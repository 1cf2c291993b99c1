%% Security: what anyone who can reach a C-node's port, or a peer that
%% holds the secret but misbehaves, can do to a node. Real BEAM peers and
%% C-nodes; the attacker is this test node speaking the wire protocol by
%% hand (partisan_raw_peer).
-module(partisan_security_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-import(partisan_ct_helpers, [call/4, node_name/1, names/1, form_cluster/1,
                              wait_members/2, wait_until/4, os_pid_alive/1]).

-export([all/0, suite/0,
         init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).

-export([secret_byte_for_byte/1,
         acceptor_reveals_nothing/1,
         bad_terms_from_peer/1,
         connection_flood/1,
         descriptor_limit/1,
         gossip_flood/1,
         announced_size/1]).

-define(WAIT, 20000).
-define(MALLORY, <<"mallory@127.0.0.1">>).
-define(SPEC, <<"undefined:1">>).  % the channels of a node configured with none

all() ->
    [secret_byte_for_byte, acceptor_reveals_nothing, bad_terms_from_peer,
     connection_flood, descriptor_limit, gossip_flood, announced_size].

suite() ->
    [{timetrap, {minutes, 3}}].

init_per_suite(Config) ->
    partisan_ct_helpers:init_suite(Config).

end_per_suite(_Config) ->
    ok.

init_per_testcase(descriptor_limit, Config) ->
    %% a runs with 200 file descriptors.
    Limited = #{exec => {"/bin/sh", ["-c", "ulimit -n 200 && exec erl \"$@\"", "erl"]}},
    A = partisan_ct_helpers:start_node(a, [], Limited, Config),
    B = partisan_ct_helpers:start_node(b, [], Config),
    [{nodes, [A, B]} | Config];
init_per_testcase(TestCase, Config) ->
    Nodes = [partisan_ct_helpers:start_node(N, [], Config) || N <- nodes_for(TestCase)],
    [{nodes, Nodes} | Config].

end_per_testcase(_TestCase, Config) ->
    partisan_ct_helpers:stop_nodes(?config(nodes, Config)).

nodes_for(secret_byte_for_byte) ->
    [{a, [{cookie, <<"abc#one-long-secret-part">>}]},
     {b, [{cookie, <<"abc#one-long-secret-part">>}]},
     {c, [{cookie, <<"abc#two-different-part">>}]}];
nodes_for(gossip_flood) -> [{a, [{max_members, 50}]}, b];
nodes_for(_) -> [a, b].

%%--------------------------------------------------------------------
%% Test cases
%%--------------------------------------------------------------------

%% Secrets are taken byte for byte: two that share a prefix up to a '#'
%% are different secrets (they once were cut there, as a comment).
secret_byte_for_byte(Config) ->
    [A, B, C] = ?config(nodes, Config),
    form_cluster([A, B]),
    [NA, NB, NC] = names([A, B, C]),
    Result = call(C, partisan, join, [call(A, partisan, node_spec, [])]),
    ct:log("join with another secret: ~p", [Result]),
    ?assertMatch({error, {refused, NA, _}}, Result),
    timer:sleep(1000),
    ?assertEqual([NA, NB], call(A, partisan, members, [])),
    ?assertEqual([NC], call(C, partisan, members, [])),
    ok.

%% Anyone may connect and say hello: the challenge that comes back, and
%% the refusal of a made-up proof, hold nothing derived from the secret.
acceptor_reveals_nothing(Config) ->
    [A, _B] = ?config(nodes, Config),
    {Ip, Port} = listen_addr(A),
    Target = atom_to_binary(node_name(A)),
    {ok, S} = partisan_raw_peer:connect(Ip, Port, any),
    ok = partisan_raw_peer:send_frame(S, partisan_raw_peer:hello(?MALLORY, Target, ?SPEC,
                                                                 crypto:strong_rand_bytes(16))),
    {ok, Challenge} = partisan_raw_peer:recv_frame(S, 5000),
    ct:log("challenge: ~p", [Challenge]),
    NL = byte_size(Target),
    ?assertMatch(<<16#11, 3:16, NL, Target:NL/binary, _Nonce:16/binary>>, Challenge),  % protocol version 3
    ?assertEqual(partisan_raw_peer:challenge_size(Target), byte_size(Challenge)),
    %% A made-up proof: refused (reason 1) with no MAC, then closed.
    ok = partisan_raw_peer:send_frame(S, <<16#12, 0:256>>),
    {ok, Refusal} = partisan_raw_peer:recv_frame(S, 5000),
    ct:log("refusal: ~p", [Refusal]),
    <<16#14, 1, TL:16, _Text:TL/binary>> = Refusal,
    ?assertEqual({error, closed}, partisan_raw_peer:recv_frame(S, 5000)),
    %% Another protocol version: refused with a reason, no MAC either.
    {ok, S2} = partisan_raw_peer:connect(Ip, Port, any),
    ok = partisan_raw_peer:send_frame(S2, <<16#10, 1:16, 0, 0, 0, 0:16, 0:128>>),
    {ok, <<16#14, 2, VL:16, _:VL/binary>>} = partisan_raw_peer:recv_frame(S2, 5000),
    gen_tcp:close(S2),
    ok.

%% A peer that holds the secret sends terms the BEAM would not decode: the
%% frame is refused (that connection closes), the node's C-node and its
%% links to its BEAM stay, and the cluster goes on.
bad_terms_from_peer(Config) ->
    [A, B] = Nodes = ?config(nodes, Config),
    form_cluster(Nodes),
    NB = node_name(B),
    #{cnode_os_pid := CNodePid, links := Links} = A,
    Server = term_body(partisan_test_server),
    NodeA = term_body(node_name(A)),
    Bad = [%% A MESSAGE to an atom that is not UTF-8 (found by probing).
           <<1, 0, 3, 16#77, 1, 16#ff, 16#61, 1>>,
           %% Payloads the BEAM refuses:
           partisan_raw_peer:message_frame(Server, <<119, 2, 16#c3, 16#28>>),         % bad UTF-8 atom
           partisan_raw_peer:message_frame(Server, <<116, 2:32, 97, 1, 97, 1, 97, 1, 97, 2>>),  % key twice
           partisan_raw_peer:message_frame(Server, <<70, 16#7ff8000000000000:64>>),  % NaN
           partisan_raw_peer:message_frame(Server, <<70, 16#7ff0000000000000:64>>),  % infinity
           partisan_raw_peer:message_frame(Server, <<113, 119, 1, $m, 119, 1, $f, 98, -1:32>>),  % export arity
           %% A pid of A's own BEAM with a number no local pid has.
           partisan_raw_peer:message_frame(Server, <<88, NodeA/binary, 16#8000:32, 0:32, 0:32>>),
           %% A reference without words (OTP 25 reads past the term).
           partisan_raw_peer:message_frame(Server, <<90, 0:16, NodeA/binary, 0:32>>),
           partisan_raw_peer:message_frame(Server, <<118, 256:16, (binary:copy(<<"a">>, 256))/binary>>)],
    [begin
         {ok, S} = authenticate(A, Config),
         ok = partisan_raw_peer:send_frame(S, Frame),
         ?assertEqual({error, closed}, partisan_raw_peer:recv_frame(S, 5000)),
         ?assert(os_pid_alive(CNodePid))
     end || Frame <- Bad],
    timer:sleep(500),
    ?assertMatch(#{os_pid := CNodePid}, call(A, partisan, status, [])),
    Hidden = call(A, erlang, nodes, [hidden]),
    [?assert(lists:member(L, Hidden)) || L <- maps:values(Links)],
    ?assertEqual(names(Nodes), call(A, partisan, members, [])),
    ?assertMatch({ok, #{same := true}},
                 call(B, partisan_test_server, roundtrip,
                      [node_name(A), {fwd3, partisan_test_server}, still_here, 10000])),
    ?assertMatch({ok, #{same := true}},
                 call(A, partisan_test_server, roundtrip,
                      [NB, {fwd3, partisan_test_server}, still_here, 10000])),
    ok.

%% 1,000 idle, slow and garbage connections held against a's port (from
%% 10 addresses, reconnecting as they are closed): a legitimate join still
%% succeeds, members stay right, and a's descriptors stay bounded.
connection_flood(Config) ->
    [A, B] = Nodes = ?config(nodes, Config),
    {Ip, Port} = listen_addr(A),
    Srcs = [{127, 0, 0, N} || N <- lists:seq(2, 11)],
    Flood = partisan_raw_peer:start_flood(Ip, Port, Srcs, 1000),
    receive {flood_started, Flood} -> ok after 10000 -> ct:fail(flood_not_started) end,
    timer:sleep(3000),
    #{cnode_os_pid := CNodePid} = A,
    FdsDuring = fd_count(CNodePid),
    try
        T0 = erlang:monotonic_time(millisecond),
        ?assertEqual(ok, call(B, partisan, join, [call(A, partisan, node_spec, [])])),
        ct:log("join under the flood took ~p ms; a's C-node holds ~p descriptors",
               [erlang:monotonic_time(millisecond) - T0, FdsDuring]),
        wait_members(Nodes, names(Nodes)),
        ?assertMatch({ok, #{same := true}},
                     call(B, partisan_test_server, roundtrip,
                          [node_name(A), {fwd3, partisan_test_server}, under_flood, 10000])),
        ?assert(FdsDuring < 400),
        ?assert(fd_count(CNodePid) < 400)
    after
        partisan_raw_peer:stop_flood(Flood)
    end,
    ?assert(os_pid_alive(CNodePid)),
    ?assertEqual(names(Nodes), call(A, partisan, members, [])),
    ok.

%% a has 200 descriptors; 260 connections are held open against it. Its
%% accept loop does not spin, and a join still succeeds.
descriptor_limit(Config) ->
    [A, B] = Nodes = ?config(nodes, Config),
    {Ip, Port} = listen_addr(A),
    #{cnode_os_pid := CNodePid} = A,
    Socks = [S || _ <- lists:seq(1, 260),
                  {ok, S} <- [partisan_raw_peer:connect(Ip, Port, {127, 0, 0, 2})]],
    ct:log("~p connections open", [length(Socks)]),
    timer:sleep(1000),
    Cpu0 = cpu_ticks(CNodePid),
    timer:sleep(5000),
    Cpu = cpu_ticks(CNodePid) - Cpu0,
    ct:log("C-node CPU over 5 s: ~p ticks; descriptors: ~p", [Cpu, fd_count(CNodePid)]),
    ?assert(Cpu < 100),  % under a second of CPU in 5 s: not spinning
    ?assertEqual(ok, call(B, partisan, join, [call(A, partisan, node_spec, [])])),
    wait_members(Nodes, names(Nodes)),
    [gen_tcp:close(S) || S <- Socks],
    ok.

%% A peer gossips 5,000 made-up members: a takes in no more than
%% max_members, stays up, and still takes a real join.
gossip_flood(Config) ->
    [A, B] = Nodes = ?config(nodes, Config),
    {ok, S} = authenticate(A, Config),
    Entries = [{<<"n", (integer_to_binary(I))/binary, "@127.0.0.1">>, 1, <<"127.0.0.1">>, 1}
               || I <- lists:seq(1, 5000)],
    ok = partisan_raw_peer:send_frame(S, partisan_raw_peer:gossip_frame(Entries)),
    Unreachable = wait_until("the gossiped members on a",
                             fun() -> call(A, partisan, unreachable, []) end,
                             fun(U) -> map_size(U) > 0 end, ?WAIT),
    ct:log("a links to ~p made-up members", [map_size(Unreachable)]),
    ?assert(map_size(Unreachable) < 50),
    gen_tcp:close(S),
    #{cnode_os_pid := CNodePid} = A,
    ?assert(os_pid_alive(CNodePid)),
    ?assertEqual(ok, call(B, partisan, join, [call(A, partisan, node_spec, [])])),
    wait_members(Nodes, names(Nodes)),
    ?assertMatch({ok, #{same := true}},
                 call(B, partisan_test_server, roundtrip,
                      [node_name(A), {fwd3, partisan_test_server}, after_gossip, 10000])),
    ok.

%% Frame headers announcing 100 MiB each, on 10 authenticated
%% connections, with nothing after them: a does not reserve the memory.
announced_size(Config) ->
    [A, _B] = ?config(nodes, Config),
    #{cnode_os_pid := CNodePid} = A,
    Before = vm_size_kib(CNodePid),
    Socks = [begin
                 {ok, S} = authenticate(A, Config),
                 ok = inet:setopts(S, [{packet, raw}]),
                 ok = gen_tcp:send(S, <<(100 * 1024 * 1024):32, 1, 0, 3>>),
                 S
             end || _ <- lists:seq(1, 10)],
    timer:sleep(1000),
    After = vm_size_kib(CNodePid),
    ct:log("C-node virtual size: ~p KiB before, ~p KiB after", [Before, After]),
    ?assert(After - Before < 200 * 1024),
    ?assert(os_pid_alive(CNodePid)),
    [gen_tcp:close(S) || S <- Socks],
    ok.

%%--------------------------------------------------------------------
%% Helpers
%%--------------------------------------------------------------------

listen_addr(N) ->
    #{listen_addrs := [#{ip := Ip, port := Port} | _]} = call(N, partisan, node_spec, []),
    {Ip, Port}.

%% An authenticated connection to N's C-node, as node "mallory".
authenticate(N, Config) ->
    {Ip, Port} = listen_addr(N),
    partisan_raw_peer:authenticate(Ip, Port, ?MALLORY, atom_to_binary(node_name(N)),
                                   list_to_binary(?config(cookie, Config)), ?SPEC).

%% External format of a term without the version byte.
term_body(T) ->
    <<131, Body/binary>> = term_to_binary(T, [{minor_version, 2}]),
    Body.

fd_count(Pid) ->
    {ok, Fds} = file:list_dir("/proc/" ++ integer_to_list(Pid) ++ "/fd"),
    length(Fds).

%% utime + stime of a process, in clock ticks (/proc/PID/stat fields 14, 15).
cpu_ticks(Pid) ->
    {ok, Stat} = file:read_file("/proc/" ++ integer_to_list(Pid) ++ "/stat"),
    [_, Rest] = string:split(Stat, ") ", trailing),
    Fields = string:split(Rest, " ", all),
    binary_to_integer(lists:nth(12, Fields)) + binary_to_integer(lists:nth(13, Fields)).

vm_size_kib(Pid) ->
    {ok, Status} = file:read_file("/proc/" ++ integer_to_list(Pid) ++ "/status"),
    [Line] = [L || L <- string:split(Status, "\n", all), string:prefix(L, "VmSize:") =/= nomatch],
    [_, Kib | _] = string:lexemes(Line, " \t"),
    binary_to_integer(Kib).
