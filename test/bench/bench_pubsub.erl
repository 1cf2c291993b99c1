%% @doc The pubsub topology's cost: the same one-way throughput run as
%% `make bench-quick' (N senders on one node, one sink on another, loopback)
%% through a private RabbitMQ broker, on a transient and on a durable
%% channel, side by side with partisan's full mesh and Distributed Erlang in
%% the same run (interleaved, each case twice), with the CPU the C-nodes and
%% the broker burned per message; and the round-trip latency of small
%% messages (one ping at a time) through each.
%% Run with `make bench-pubsub'; writes bench/results/pubsub.md. Not a
%% test: it asserts nothing.
-module(bench_pubsub).

-export([main/1]).
%% run on the nodes
-export([start_echo/2, ping_run/3]).

-define(CASE_TIMEOUT, 300000).

main([Root]) ->
    BrokerDir = string:trim(os:cmd("mktemp -d")),
    Script = filename:join(Root, "test/amqp/broker.sh"),
    io:format("starting a private broker: ~ts", [os:cmd(Script ++ " start " ++ BrokerDir ++ " 0 2>&1")]),
    try
        run(Root, BrokerDir)
    after
        os:cmd(Script ++ " stop " ++ BrokerDir),
        os:cmd("rm -rf " ++ BrokerDir)
    end.

run(Root, BrokerDir) ->
    Port = broker_port(BrokerDir),
    BrokerPid = list_to_integer(string:trim(read(filename:join(BrokerDir, "rabbitmq.pid")))),
    Start = partisan_bench:peer_starter(Root),
    Partisan = fun(Name, Env) ->
                       {P, N} = Start(Name, ["-kernel", "dist_auto_connect", "never"]),
                       %% Loaded first: loading would put the .app defaults back.
                       ok = peer:call(P, application, load, [partisan]),
                       [ok = peer:call(P, application, set_env, [partisan, K, V]) || {K, V} <- Env],
                       {ok, _} = peer:call(P, application, ensure_all_started, [partisan]),
                       {P, N}
               end,
    PubsubEnv = [{topology, pubsub}, {amqp, #{port => Port}}, {announce_interval, 1000},
                 {channels, #{jobs => #{durable => true}}}],
    {SA, _} = Partisan(bench_sa, PubsubEnv),
    {SB, NSB} = Partisan(bench_sb, PubsubEnv),
    wait_members(SA, 2),
    {PA, _} = Partisan(bench_pa, []),
    {PB, NPB} = Partisan(bench_pb, []),
    ok = peer:call(PB, partisan, join, [peer:call(PA, partisan, node_spec, [])]),
    wait_members(PA, 2),
    {DA, _} = Start(bench_da, []),
    {DB, NDB} = Start(bench_db, []),
    true = peer:call(DA, net_kernel, connect_node, [NDB]),
    Systems = [{dist, DA, DB, NDB, dist, []},
               {full_mesh, PA, PB, NPB, partisan, cnodes([PA, PB])},
               {pubsub, SA, SB, NSB, partisan, cnodes([SA, SB]) ++ [{broker, BrokerPid}]},
               {pubsub_durable, SA, SB, NSB, {partisan, jobs}, cnodes([SA, SB]) ++ [{broker, BrokerPid}]}],
    Cases = [{N, Size} || Size <- [1024, 65536], N <- [1, 16]],
    Rows = [one_case(Systems, N, Size) || {N, Size} <- Cases],
    Latency = [latency(S) || _ <- [1, 2], S <- Systems],
    [peer:stop(P) || P <- [SA, SB, PA, PB, DA, DB]],
    Table = [table(Rows), "\n", latency_table(Latency)],
    io:format("~n~ts", [Table]),
    Out = filename:join(Root, "bench/results/pubsub.md"),
    ok = filelib:ensure_dir(Out),
    ok = file:write_file(Out, [header(), Table]),
    io:format("~nwritten to ~ts~n", [Out]).

%% Each system twice, interleaved: dist, full mesh, pubsub, durable, then again.
one_case(Systems, N, Size) ->
    Count = max(100, min(2000, 8000 div N)),
    Runs = [{Tag, measure(S, N, Count, Size)} || _ <- [1, 2], {Tag, _, _, _, _, _} = S <- Systems],
    {N, Size, N * Count, Runs}.

measure({_Tag, SendPeer, RecvPeer, RecvNode, Via, Pids}, N, Count, Size) ->
    Total = N * Count,
    SenderNode = peer:call(SendPeer, erlang, node, []),
    ok = peer:call(RecvPeer, partisan_bench, start_sink, [Via, Total, SenderNode]),
    Cpu0 = [{L, bench_cluster:cpu_ns(P)} || {L, P} <- Pids],
    Micros = peer:call(SendPeer, partisan_bench, run_senders, [Via, RecvNode, N, Count, Size, Total],
                       ?CASE_TIMEOUT),
    Cpu = bench_cluster:cpu_diff(Cpu0, [{L, bench_cluster:cpu_ns(P)} || {L, P} <- Pids]),
    {Total / (Micros / 1.0e6), [{L, Ns / Total / 1000} || {L, Ns} <- Cpu]}.

%% 2,000 round trips of a small message, one at a time: {Tag, P50, P99} in us.
latency({Tag, SendPeer, RecvPeer, RecvNode, Via, _Pids}) ->
    SenderNode = peer:call(SendPeer, erlang, node, []),
    ok = peer:call(RecvPeer, ?MODULE, start_echo, [Via, SenderNode]),
    Sorted = peer:call(SendPeer, ?MODULE, ping_run, [Via, RecvNode, 2000], ?CASE_TIMEOUT),
    Pct = fun(P) -> lists:nth(max(1, round(P * length(Sorted))), Sorted) end,
    {Tag, Pct(0.5), Pct(0.99)}.

%% On the receiving node: `bench_echo' answers each {ping, I} with {pong, I}
%% to `bench_pinger' on the sender's node, through the same system.
start_echo(Via, ReplyNode) ->
    catch exit(whereis(bench_echo), kill),
    timer:sleep(10),
    Pid = spawn(fun Loop() ->
                        receive {ping, I} -> partisan_bench:send(Via, ReplyNode, bench_pinger, {pong, I}) end,
                        Loop()
                end),
    register(bench_echo, Pid),
    ok.

ping_run(Via, Node, Count) ->
    catch unregister(bench_pinger),
    register(bench_pinger, self()),
    Times = [begin
                 T0 = erlang:monotonic_time(microsecond),
                 partisan_bench:send(Via, Node, bench_echo, {ping, I}),
                 receive {pong, I} -> erlang:monotonic_time(microsecond) - T0 after 10000 -> error(ping_timeout) end
             end || I <- lists:seq(1, Count)],
    lists:sort(Times).

latency_table(Results) ->
    Tags = [dist, full_mesh, pubsub, pubsub_durable],
    ["| round trip, small message | ", lists:join(" | ", [atom_to_list(T) || T <- Tags]), " |\n",
     "|---|", lists:duplicate(length(Tags), "---|"), "\n",
     [io_lib:format("| ~s (us, two runs) | ~ts |~n",
                    [Label, lists:join(" | ", [lists:join("/", [integer_to_list(V) || {T, P50, P99} <- Results, T =:= Tag,
                                                                V <- [case Label of "p50" -> P50; _ -> P99 end]])
                                               || Tag <- Tags])])
      || Label <- ["p50", "p99"]]].

cnodes(Peers) ->
    [{cnode, maps:get(os_pid, peer:call(P, partisan, status, []))} || P <- Peers].

wait_members(Peer, Want) ->
    wait_members(Peer, Want, 100).

wait_members(Peer, Want, 0) ->
    error({members, peer:call(Peer, partisan, members, []), Want});
wait_members(Peer, Want, Tries) ->
    case length(peer:call(Peer, partisan, members, [])) of
        Want -> ok;
        _ -> timer:sleep(200), wait_members(Peer, Want, Tries - 1)
    end.

broker_port(Dir) ->
    [Port] = [list_to_integer(P) || "PORT=" ++ P <- string:lexemes(read(filename:join(Dir, "broker.env")), "\n")],
    Port.

read(Path) ->
    {ok, B} = file:read_file(Path),
    binary_to_list(B).

header() ->
    ["# pubsub through RabbitMQ against full mesh and Distributed Erlang\n\n",
     "`make bench-pubsub` (test/bench/bench_pubsub.erl): N senders on one node, one sink on another, ",
     "loopback, each system twice per case, interleaved; msg/s as `first/second`. ",
     "CPU: microseconds per message of the two C-nodes together and of the broker's VM ",
     "(each run's mean over both runs). pubsub_durable: a `durable` channel (persistent messages, ",
     "durable queue).\n\n"].

table(Rows) ->
    Tags = [dist, full_mesh, pubsub, pubsub_durable],
    Head = ["| payload | N | msgs | ", lists:join(" | ", [atom_to_list(T) ++ " msg/s" || T <- Tags]),
            " | pubsub / dist | pubsub CPU us/msg (C-nodes, broker) | durable CPU us/msg (C-nodes, broker) |\n",
            "|---|---|---|", lists:duplicate(length(Tags) + 3, "---|"), "\n"],
    [Head | [row(R, Tags) || R <- Rows]].

row({N, Size, Total, Runs}, Tags) ->
    Rates = fun(T) -> [R || {Tag, {R, _}} <- Runs, Tag =:= T] end,
    Mean = fun(L) -> lists:sum(L) / max(1, length(L)) end,
    CpuOf = fun(T, Label) ->
                    Mean([lists:sum([V || {L, V} <- Cpu, L =:= Label]) || {Tag, {_, Cpu}} <- Runs, Tag =:= T])
            end,
    Cells = [io_lib:format("~s", [lists:join("/", [integer_to_list(round(R)) || R <- Rates(T)])]) || T <- Tags],
    Ratio = Mean(Rates(pubsub)) / Mean(Rates(dist)),
    io_lib:format("| ~b B | ~b | ~b | ~ts | ~.2f | ~.1f, ~.1f | ~.1f, ~.1f |~n",
                  [Size, N, Total, lists:join(" | ", Cells), Ratio,
                   CpuOf(pubsub, cnode), CpuOf(pubsub, broker),
                   CpuOf(pubsub_durable, cnode), CpuOf(pubsub_durable, broker)]).
