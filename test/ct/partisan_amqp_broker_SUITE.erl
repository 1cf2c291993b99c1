%% The RabbitMQ harness (test/amqp/broker.sh through partisan_ct_broker)
%% that AMQP suites rely on: a private broker starts, speaks AMQP 0-9-1 on
%% loopback only, keeps durable data across a restart, takes users for
%% credential tests, and leaves no process or port behind when stopped.
%% Needs RabbitMQ and amqp-tools (scripts/install_deps.sh), not the C-node.
%% The AMQP clients here are amqp-tools, built on rabbitmq-c 0.11, the
%% library the C-node uses.
-module(partisan_amqp_broker_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, groups/0, suite/0,
         init_per_suite/1, end_per_suite/1,
         init_per_group/2, end_per_group/2]).

-export([speaks_amqp/1,
         users_and_vhosts/1,
         restart_keeps_durable_data/1,
         stop_leaves_nothing/1,
         two_brokers_at_once/1,
         port_in_use/1]).

-define(TOOL_TIMEOUT, 30000).  % one amqp-tools call, ms

all() ->
    [{group, one_broker}, two_brokers_at_once, port_in_use].

%% One broker through its life; each case builds on the previous one.
groups() ->
    [{one_broker, [sequence],
      [speaks_amqp, users_and_vhosts, restart_keeps_durable_data, stop_leaves_nothing]}].

suite() ->
    [{timetrap, {minutes, 5}}].

init_per_suite(Config) ->
    case {partisan_ct_broker:available(), os:find_executable("amqp-get")} of
        {true, Path} when is_list(Path) -> Config;
        {true, false} -> {fail, "amqp-tools not installed (scripts/install_deps.sh)"};
        {{false, Why}, _} -> {fail, "no RabbitMQ broker: " ++ Why}
    end.

end_per_suite(_Config) ->
    ok.

init_per_group(one_broker, Config) ->
    [{broker, partisan_ct_broker:start(Config)} | Config].

end_per_group(one_broker, Config) ->
    %% By directory, so it holds after a restart; a no-op once stopped.
    partisan_ct_broker:stop(?config(broker, Config)).

%% Test cases

speaks_amqp(Config) ->
    B = ?config(broker, Config),
    ?assertEqual(running, partisan_ct_broker:status(B)),
    assert_speaks_amqp(B),
    assert_loopback_only(B),
    %% guest/guest, on loopback, can use the default vhost.
    ?assertMatch({0, _}, amqp(B, "amqp-declare-queue", [], ["-q", "partisan_guest"])).

users_and_vhosts(Config) ->
    B = ?config(broker, Config),
    ok = partisan_ct_broker:add_user(B, "alice", "s3cret", "partisan_vh"),
    Alice = creds("alice", "s3cret", "partisan_vh"),
    ?assertMatch({0, _}, amqp(B, "amqp-declare-queue", Alice, ["-q", "alice_q"])),
    assert_refused(amqp(B, "amqp-declare-queue", creds("alice", "wrong", "partisan_vh"),
                        ["-q", "alice_q"]), <<"403">>, <<"ACCESS_REFUSED">>),
    assert_refused(amqp(B, "amqp-declare-queue", creds("mallory", "s3cret", "partisan_vh"),
                        ["-q", "alice_q"]), <<"403">>, <<"ACCESS_REFUSED">>),
    %% Right password, but no rights on "/".
    assert_refused(amqp(B, "amqp-declare-queue", creds("alice", "s3cret", "/"),
                        ["-q", "alice_q"]), <<"530">>, <<"NOT_ALLOWED">>),
    %% Adding the same user twice is an error, not silently ignored.
    ?assertError({broker, add_user, _, _},
                 partisan_ct_broker:add_user(B, "alice", "other", "partisan_vh")).

restart_keeps_durable_data(Config) ->
    B0 = ?config(broker, Config),
    Body = "kept across the restart",
    ?assertMatch({0, _}, amqp(B0, "amqp-declare-queue", [], ["-d", "-q", "partisan_durable"])),
    ?assertMatch({0, _}, amqp(B0, "amqp-publish", [],
                              ["-r", "partisan_durable", "-p", "-b", Body])),
    %% A transient queue does not survive a real restart of the broker.
    ?assertMatch({0, _}, amqp(B0, "amqp-declare-queue", [], ["-q", "partisan_transient"])),
    B1 = partisan_ct_broker:restart(B0),
    ?assertEqual(maps:get(port, B0), maps:get(port, B1)),
    ?assertEqual(maps:get(node, B0), maps:get(node, B1)),
    ?assertNotEqual(maps:get(os_pid, B0), maps:get(os_pid, B1)),
    ?assertNot(partisan_ct_helpers:os_pid_alive(maps:get(os_pid, B0))),
    assert_speaks_amqp(B1),
    {0, Got} = amqp(B1, "amqp-get", [], ["-q", "partisan_durable"]),
    ?assertEqual(Body, string:trim(binary_to_list(Got))),
    assert_refused(amqp(B1, "amqp-get", [], ["-q", "partisan_transient"]),
                   <<"404">>, <<"NOT_FOUND">>),
    %% Users, vhosts and permissions are durable too.
    ?assertMatch({0, _}, amqp(B1, "amqp-declare-queue", creds("alice", "s3cret", "partisan_vh"),
                              ["-q", "alice_q"])),
    {save_config, [{broker, B1}]}.

stop_leaves_nothing(Config) ->
    B = case ?config(saved_config, Config) of
            {restart_keeps_durable_data, Saved} -> ?config(broker, Saved);
            undefined -> ?config(broker, Config)
        end,
    #{os_pid := Vm, port := Port, epmd_port := EpmdPort} = B,
    Pids = partisan_ct_broker:os_pids(B),
    ct:log("broker processes: ~p", [[{P, comm(P)} || P <- Pids]]),
    %% At least the VM, erl_child_setup and epmd: the check below means something.
    ?assert(lists:member(Vm, Pids)),
    ?assert(lists:member("epmd", [comm(P) || P <- Pids])),
    ?assert(lists:member("erl_child_setup", [comm(P) || P <- Pids])),
    T0 = erlang:monotonic_time(millisecond),
    ok = partisan_ct_broker:stop(B),
    ct:log("stop took ~p ms", [erlang:monotonic_time(millisecond) - T0]),
    %% stop/1 returns after everything is gone: no waiting here.
    ?assertEqual([], [{P, comm(P)} || P <- Pids, partisan_ct_helpers:os_pid_alive(P)]),
    ?assertEqual({error, econnrefused}, connect(Port)),
    ?assertEqual({error, econnrefused}, connect(EpmdPort)),
    ?assertEqual(stopped, partisan_ct_broker:status(B)),
    ok = partisan_ct_broker:stop(B).

two_brokers_at_once(Config) ->
    B1 = partisan_ct_broker:start(Config),
    try
        B2 = partisan_ct_broker:start(Config),
        try
            [?assertNotEqual(maps:get(K, B1), maps:get(K, B2))
             || K <- [port, node, os_pid, epmd_port, dir]],
            assert_speaks_amqp(B1),
            assert_speaks_amqp(B2),
            %% Separate brokers: a queue declared on one is not on the other.
            ?assertMatch({0, _}, amqp(B1, "amqp-declare-queue", [], ["-q", "only_on_b1"])),
            assert_refused(amqp(B2, "amqp-get", [], ["-q", "only_on_b1"]),
                           <<"404">>, <<"NOT_FOUND">>),
            ok = partisan_ct_broker:stop(B1),
            ?assertEqual({error, econnrefused}, connect(maps:get(port, B1))),
            ?assertEqual(running, partisan_ct_broker:status(B2)),
            assert_speaks_amqp(B2)
        after
            partisan_ct_broker:stop(B2)
        end
    after
        partisan_ct_broker:stop(B1)
    end.

port_in_use(Config) ->
    {ok, L} = gen_tcp:listen(0, [{ip, {127, 0, 0, 1}}]),
    {ok, Port} = inet:port(L),
    try partisan_ct_broker:start(Config, Port) of
        B ->
            partisan_ct_broker:stop(B),
            ct:fail("a broker started on port ~p, which was taken", [Port])
    catch
        error:{broker, start, Status, Out} ->
            ?assertNotEqual(0, Status),
            ?assertNotEqual(nomatch, binary:match(Out, <<"in use">>))
    after
        gen_tcp:close(L)
    end.

%% Helpers

%% The 8-byte protocol header of AMQP 0-9-1 must be answered with a method
%% frame (type 1) on channel 0 carrying Connection.Start (class 10, method
%% 10) for version 0-9, from RabbitMQ.
assert_speaks_amqp(#{port := Port}) ->
    {ok, S} = connect(Port),
    try
        ok = gen_tcp:send(S, <<"AMQP", 0, 0, 9, 1>>),
        {ok, <<Type, Channel:16, Size:32>>} = gen_tcp:recv(S, 7, 10000),
        ?assertEqual({1, 0}, {Type, Channel}),
        {ok, <<Payload:Size/binary, FrameEnd>>} = gen_tcp:recv(S, Size + 1, 10000),
        ?assertEqual(16#CE, FrameEnd),
        <<Class:16, Method:16, Major, Minor, _/binary>> = Payload,
        ?assertEqual({10, 10, 0, 9}, {Class, Method, Major, Minor}),
        ?assertNotEqual(nomatch, binary:match(Payload, <<"RabbitMQ">>))
    after
        gen_tcp:close(S)
    end.

%% Nothing on this machine's other addresses reaches the broker.
assert_loopback_only(#{port := Port}) ->
    {ok, Ifs} = inet:getifaddrs(),
    Addrs = [A || {_, Opts} <- Ifs, {addr, A = {_, _, _, _}} <- Opts,
                  element(1, A) =/= 127],
    ct:log("non-loopback IPv4 addresses: ~p", [Addrs]),
    [?assertEqual({A, {error, econnrefused}},
                  {A, gen_tcp:connect(A, Port, [binary], 2000)}) || A <- Addrs],
    ok.

assert_refused({Status, Out}, Code, Text) ->
    ?assertNotEqual(0, Status),
    ?assertNotEqual(nomatch, binary:match(Out, Code), Out),
    ?assertNotEqual(nomatch, binary:match(Out, Text), Out).

creds(User, Password, VHost) ->
    ["--username=" ++ User, "--password=" ++ Password, "--vhost=" ++ VHost].

connect(Port) ->
    gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}], 5000).

comm(Pid) ->
    case file:read_file("/proc/" ++ integer_to_list(Pid) ++ "/comm") of
        {ok, C} -> string:trim(binary_to_list(C));
        {error, _} -> gone
    end.

%% Runs one of amqp-tools against the broker; {ExitStatus, Output}.
amqp(#{port := Port}, Tool, Creds, Args) ->
    P = open_port({spawn_executable, os:find_executable(Tool)},
                  [{args, ["--server=127.0.0.1", "--port=" ++ integer_to_list(Port)
                           | Creds ++ Args]},
                   exit_status, stderr_to_stdout, binary, use_stdio, hide]),
    Result = collect(P, []),
    ct:log("~ts ~p: ~p", [Tool, Args, Result]),
    Result.

collect(P, Acc) ->
    receive
        {P, {data, D}} -> collect(P, [D | Acc]);
        {P, {exit_status, S}} -> {S, iolist_to_binary(lists:reverse(Acc))}
    after ?TOOL_TIMEOUT ->
            catch port_close(P),
            ct:fail("amqp-tools call timed out; output so far: ~p", [lists:reverse(Acc)])
    end.
