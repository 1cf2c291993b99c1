%% @doc A quick throughput benchmark: partisan against Distributed Erlang,
%% measured in the same run on this machine (loopback, no emulated link).
%% N workers on one node each send `Count' messages of `Size' bytes to a
%% sink on another node; the time runs until the sink has them all.
%% Run with `make bench-quick'. Not a test: it asserts nothing.
-module(partisan_bench).

-export([main/1, peer_starter/1]).
%% run on the nodes
-export([start_sink/3, run_senders/6, send/4]).

main([Root]) ->
    Start = peer_starter(Root),
    %% partisan pair: never connected by Distributed Erlang.
    {PA, _} = Start(bench_pa, ["-kernel", "dist_auto_connect", "never"]),
    {PB, NB} = Start(bench_pb, ["-kernel", "dist_auto_connect", "never"]),
    [{ok, _} = peer:call(P, application, ensure_all_started, [partisan]) || P <- [PA, PB]],
    ok = peer:call(PB, partisan, join, [peer:call(PA, partisan, node_spec, [])]),
    %% Distributed Erlang pair.
    {DA, _} = Start(bench_da, []),
    {DB, NDB} = Start(bench_db, []),
    true = peer:call(DA, net_kernel, connect_node, [NDB]),
    Cases = [{N, Size} || Size <- [1024, 65536], N <- [1, 4, 16, 64]],
    io:format("~n| payload | N | msgs | dist msg/s | partisan msg/s | partisan/dist |~n"
              "|---|---|---|---|---|---|~n"),
    [begin
         Count = max(100, min(1000, 4000 div N)),
         Dist = run(DA, DB, NDB, dist, N, Count, Size),
         Part = run(PA, PB, NB, partisan, N, Count, Size),
         io:format("| ~b B | ~b | ~b | ~b | ~b | ~.2f |~n",
                   [Size, N, N * Count, round(Dist), round(Part), Part / Dist])
     end || {N, Size} <- Cases],
    [peer:stop(P) || P <- [PA, PB, DA, DB]],
    ok.

%% A fun(Name, ExtraArgs) -> {Peer, Node} starting loopback peers that
%% share a fresh cookie and have partisan and the bench modules on their path.
peer_starter(Root) ->
    Ebin = filename:join(Root, "_build/default/lib/partisan/ebin"),
    Here = filename:dirname(code:which(?MODULE)),
    Cookie = "bench_" ++ integer_to_list(erlang:unique_integer([positive])),
    Args = fun(Extra) -> ["-setcookie", Cookie, "-kernel", "inet_dist_use_interface", "{127,0,0,1}",
                          "-pa", Ebin, "-pa", Here | Extra] end,
    fun(Name, Extra) ->
            {ok, P, N} = peer:start(#{name => Name, connection => standard_io, args => Args(Extra)}),
            {P, N}
    end.

run(SendPeer, RecvPeer, RecvNode, Via, N, Count, Size) ->
    Total = N * Count,
    Reporter = peer:call(SendPeer, erlang, self, []),
    _ = Reporter,
    ok = peer:call(RecvPeer, ?MODULE, start_sink, [Via, Total, self_node_of(SendPeer)]),
    Micros = peer:call(SendPeer, ?MODULE, run_senders, [Via, RecvNode, N, Count, Size, Total], 120000),
    Total / (Micros / 1.0e6).

self_node_of(Peer) -> peer:call(Peer, erlang, node, []).

%% A sink registered as `bench_sink': counts to Total, then tells the waiter
%% registered as `bench_waiter' on the sender's node.
start_sink(Via, Total, SenderNode) ->
    case whereis(bench_sink) of
        undefined -> ok;
        Old -> unregister(bench_sink), exit(Old, kill)
    end,
    Pid = spawn(fun() -> sink(Via, Total, SenderNode) end),
    register(bench_sink, Pid),
    ok.

sink(Via, 0, SenderNode) ->
    send(Via, SenderNode, bench_waiter, bench_done);
sink(Via, Left, SenderNode) ->
    receive _ -> sink(Via, Left - 1, SenderNode) end.

run_senders(Via, RecvNode, N, Count, Size, _Total) ->
    catch unregister(bench_waiter),
    register(bench_waiter, self()),
    Payload = binary:copy(<<"x">>, Size),
    Parent = self(),
    T0 = erlang:monotonic_time(microsecond),
    [spawn_link(fun() ->
                        [send(Via, RecvNode, bench_sink, Payload) || _ <- lists:seq(1, Count)],
                        Parent ! {sent, self()}
                end) || _ <- lists:seq(1, N)],
    receive bench_done -> ok after 100000 -> error(bench_timeout) end,
    T1 = erlang:monotonic_time(microsecond),
    flush_sent(),
    T1 - T0.

flush_sent() -> receive {sent, _} -> flush_sent() after 0 -> ok end.

send(dist, Node, Name, Msg) -> erlang:send({Name, Node}, Msg);
send(partisan, Node, Name, Msg) -> ok = partisan:forward_message(Node, Name, Msg);
send({partisan, Channel}, Node, Name, Msg) -> ok = partisan:forward_message(Node, Name, Msg, #{channel => Channel}).
