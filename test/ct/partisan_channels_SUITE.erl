%% End-to-end tests of partisan's channels: parallel connections per
%% channel, partition keys, no head-of-line blocking between channels,
%% monotonic channels, losing one connection of a channel, stats.
%%
%% Peers are OTP `peer' nodes (connection standard_io: no Distributed
%% Erlang between them), each running partisan and its C-node, configured
%% with ?CHANNELS. The functions in the "Run on the peers" section are
%% called on the peers with peer:call/5 (this module is on their code path).
%%
%% Run from the top of the repository:
%%   ERL_EPMD_PORT=43791 ERL_EPMD_ADDRESS=127.0.0.1 \
%%     rebar3 ct --dir test/ct --suite partisan_channels_SUITE
-module(partisan_channels_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-import(partisan_ct_helpers, [call/4, call/5, node_name/1, names/1, form_cluster/1,
                              wait_until/4]).

-export([all/0, suite/0,
         init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).

-export([connections_and_stats/1,
         fifo_per_partition_key/1,
         head_of_line/1,
         monotonic/1,
         unknown_channel/1,
         lose_one_connection/1,
         backpressure/1]).

%% Run on the peers.
-export([sink_start/1,
         sink_query/1,
         echo_start/1,
         send_stream/7,
         fifo_send/5,
         hol_run/4,
         mono_send_start/5,
         mono_send_result/0,
         break_and_send/4]).

-define(CHANNELS, #{vnode => #{parallelism => 4},
                    bulk => #{},
                    gossip => #{monotonic => true}}).
-define(ALL_CHANNELS, [bulk, gossip, undefined, vnode]).
-define(EXPECTED_CONNECTIONS, #{undefined => 1, vnode => 4, bulk => 1, gossip => 1}).
-define(STATS_KEYS, [bytes_received, bytes_sent, connections, dropped, messages_queued,
                     messages_received, messages_sent, queued_bytes, reconnects, undeliverable]).
-define(WAIT, 15000).          % bound of the usual wait loops, ms
-define(MIB, (1024 * 1024)).

all() ->
    [connections_and_stats,
     unknown_channel,
     fifo_per_partition_key,
     head_of_line,
     monotonic,
     lose_one_connection,
     backpressure].

suite() ->
    [{timetrap, {minutes, 3}}].

%%--------------------------------------------------------------------
%% Setup
%%--------------------------------------------------------------------

init_per_suite(Config) ->
    partisan_ct_helpers:init_suite(Config).

end_per_suite(_Config) ->
    ok.

nodes_for(connections_and_stats) -> [a, b, c];
nodes_for(backpressure) -> [a, b, c];
nodes_for(_) -> [a, b].

init_per_testcase(TestCase, Config) ->
    Nodes = [partisan_ct_helpers:start_node(N, [{channels, ?CHANNELS}], Config)
             || N <- nodes_for(TestCase)],
    [{nodes, Nodes} | Config].

end_per_testcase(_TestCase, Config) ->
    Nodes = ?config(nodes, Config),
    %% A test that failed while a C-node was stopped must not leave it so.
    [os:cmd("kill -CONT " ++ integer_to_list(Pid)) || #{cnode_os_pid := Pid} <- Nodes],
    partisan_ct_helpers:stop_nodes(Nodes).

%%--------------------------------------------------------------------
%% Test cases
%%--------------------------------------------------------------------

%% A receiver that stops reading: the sender is held back (its C-node's
%% memory stays bounded, far below what was sent), other channels to other
%% nodes flow on, and once the receiver reads again everything arrives in
%% order.
backpressure(Config) ->
    [A, B, C] = Nodes = ?config(nodes, Config),
    form_cluster(Nodes),
    wait_connections(A, [node_name(B), node_name(C)]),
    [NB, NC] = [node_name(B), node_name(C)],
    Count = 300,
    MiB = 1024 * 1024,
    {ok, _} = call(B, ?MODULE, sink_start, [bulk_sink]),
    {ok, _} = call(C, ?MODULE, sink_start, [vnode_sink]),
    #{cnode_os_pid := PidA} = A,
    #{cnode_os_pid := PidB} = B,
    try
        _ = os:cmd("kill -STOP " ++ integer_to_list(PidB)),
        %% 300 MiB of 1 MiB messages to b on channel bulk.
        ok = call(A, ?MODULE, mono_send_start, [NB, bulk_sink, Count, bulk, MiB]),
        timer:sleep(3000),
        ?assertEqual(pending, call(A, ?MODULE, mono_send_result, [])),
        RssKiB = rss_kib(PidA),
        ct:log("a's C-node RSS while b is stopped: ~b MiB (sender blocked)", [RssKiB div 1024]),
        ?assert(RssKiB < 200 * 1024),
        %% Another channel to another node is not held back.
        ok = call(A, partisan, forward_message, [NC, vnode, vnode_sink, {seqmsg, v, 1, <<>>}, #{}]),
        wait_until("vnode message on c", fun() -> call(C, ?MODULE, sink_query, [vnode_sink]) end,
                   fun(#{streams := St}) -> count_last(v, St) =:= {1, 1} end, 5000)
    after
        _ = os:cmd("kill -CONT " ++ integer_to_list(PidB))
    end,
    Sent = wait_until("the sender to finish", fun() -> call(A, ?MODULE, mono_send_result, []) end,
                      fun(R) -> R =/= pending end, 60000),
    ?assertMatch({ok, _}, Sent),
    Final = wait_until("all bulk messages on b", fun() -> call(B, ?MODULE, sink_query, [bulk_sink]) end,
                       fun(#{streams := St}) -> count_last(mono, St) =:= {Count, Count} end, 60000),
    ?assertMatch(#{violations := []}, Final),
    ok.

rss_kib(OsPid) ->
    Status = os:cmd("cat /proc/" ++ integer_to_list(OsPid) ++ "/status"),
    [Line] = [L || L <- string:split(Status, "\n", all), lists:prefix("VmRSS:", L)],
    list_to_integer(hd(string:lexemes(string:slice(Line, 6), " \t"))).

%% Every pair of nodes holds, per channel, `parallelism' connections;
%% channels(), status() links, and the stats counters.
connections_and_stats(Config) ->
    Nodes = ?config(nodes, Config),
    form_cluster(Nodes),
    Names = names(Nodes),
    [begin
         ?assertEqual(?ALL_CHANNELS, call(N, partisan, channels, [])),
         ?assertEqual(?ALL_CHANNELS, call(N, partisan_peer_service, channels, [])),
         #{links := Links, channels := Specs} = call(N, partisan, status, []),
         ?assertEqual(?ALL_CHANNELS, lists:sort(maps:keys(Links))),
         ?assertMatch(#{vnode := #{parallelism := 4, monotonic := false},
                        bulk := #{parallelism := 1, monotonic := false},
                        gossip := #{parallelism := 1, monotonic := true},
                        undefined := #{parallelism := 1, monotonic := false}}, Specs),
         %% One BEAM link per channel, and this BEAM sees only those.
         ?assertEqual(4, length(lists:usort(maps:values(Links)))),
         ?assertEqual(lists:usort([maps:get(cnode, N) | maps:values(Links)]),
                      lists:sort(call(N, erlang, nodes, [hidden])))
     end || N <- Nodes],
    [wait_connections(N, Names -- [node_name(N)]) || N <- Nodes],
    [A, B | _] = Nodes,
    NA = node_name(A),
    NB = node_name(B),
    ?assertEqual(call(A, partisan, connections, []),
                 call(A, partisan_peer_service, connections, [])),
    %% Stats: every counter there, for every peer and channel.
    Stats0 = call(A, partisan, stats, []),
    ct:log("stats on a before: ~p", [Stats0]),
    ?assertEqual(Names -- [NA], lists:sort(maps:keys(Stats0))),
    [begin
         ?assertEqual(?ALL_CHANNELS, lists:sort(maps:keys(PerChannel))),
         [begin
              ?assertEqual(?STATS_KEYS, lists:sort(maps:keys(S))),
              [?assert(is_integer(V) andalso V >= 0) || V <- maps:values(S)]
          end || S <- maps:values(PerChannel)]
     end || PerChannel <- maps:values(Stats0)],
    %% 100 messages of 1000 bytes on each channel a -> b show in a's sent
    %% and b's received counters of that channel (on the monotonic channel
    %% gossip a message may replace an earlier unsent one: the last one
    %% arrives, and the sent and dropped ones add up to 100).
    {ok, _} = call(B, ?MODULE, sink_start, [stats_sink]),
    StatsB0 = call(B, partisan, stats, []),
    Pad = binary:copy(<<"p">>, 1000),
    [?assertEqual(ok, call(A, ?MODULE, send_stream,
                           [NB, stats_sink, Ch, 1, 100, #{channel => Ch}, Pad]))
     || Ch <- ?ALL_CHANNELS],
    Sink = wait_until("the messages on b",
                      fun() -> call(B, ?MODULE, sink_query, [stats_sink]) end,
                      fun(#{streams := St}) ->
                              lists:all(fun(gossip) -> count_last(gossip, St) >= {1, 100};
                                           (Ch) -> count_last(Ch, St) =:= {100, 100}
                                        end, ?ALL_CHANNELS)
                      end, ?WAIT),
    ?assertEqual([], maps:get(violations, Sink)),
    {GossipCount, 100} = count_last(gossip, maps:get(streams, Sink)),
    Expected = fun(gossip) -> GossipCount; (_) -> 100 end,
    Stats1 = wait_until("a's sent counters",
                        fun() -> call(A, partisan, stats, []) end,
                        fun(S) ->
                                lists:all(fun(Ch) -> delta(S, Stats0, NB, Ch, messages_sent)
                                                         >= Expected(Ch)
                                          end, ?ALL_CHANNELS)
                        end, ?WAIT),
    StatsB1 = wait_until("b's received counters",
                         fun() -> call(B, partisan, stats, []) end,
                         fun(S) ->
                                 lists:all(fun(Ch) -> delta(S, StatsB0, NA, Ch, messages_received)
                                                          >= Expected(Ch)
                                           end, ?ALL_CHANNELS)
                         end, ?WAIT),
    ct:log("gossip: ~p of 100 delivered~nstats on a after: ~p~nstats on b after: ~p",
           [GossipCount, Stats1, StatsB1]),
    [begin
         ?assertEqual(Expected(Ch), delta(Stats1, Stats0, NB, Ch, messages_sent)),
         ?assertEqual(Expected(Ch), delta(StatsB1, StatsB0, NA, Ch, messages_received)),
         ?assert(delta(Stats1, Stats0, NB, Ch, bytes_sent) >= Expected(Ch) * 1000),
         ?assert(delta(StatsB1, StatsB0, NA, Ch, bytes_received) >= Expected(Ch) * 1000),
         ?assertEqual(0, stat(Stats1, NB, Ch, reconnects)),
         ?assertEqual(0, stat(Stats1, NB, Ch, queued_bytes)),
         ?assertEqual(0, stat(Stats1, NB, Ch, messages_queued)),
         ?assertEqual(0, stat(StatsB1, NA, Ch, undeliverable))
     end || Ch <- ?ALL_CHANNELS],
    ?assertEqual(100 - GossipCount, delta(Stats1, Stats0, NB, gossip, dropped)),
    [?assertEqual(0, stat(Stats1, NB, Ch, dropped)) || Ch <- [undefined, vnode, bulk]],
    ok.

%% Unknown channels are refused by every sending call; known ones work.
unknown_channel(Config) ->
    [A, B] = Nodes = ?config(nodes, Config),
    form_cluster(Nodes),
    NB = node_name(B),
    Err = {error, {unknown_channel, nochan}},
    S = partisan_test_server,
    ?assertEqual(Err, call(A, partisan, forward_message, [NB, S, hi, #{channel => nochan}])),
    ?assertEqual(Err, call(A, partisan, forward_message, [NB, S, hi, [{channel, nochan}]])),
    ?assertEqual(Err, call(A, partisan, forward_message, [NB, nochan, S, hi, #{}])),
    ?assertEqual(Err, call(A, partisan, forward_message,
                           [NB, nochan, S, hi, #{partition_key => 3}])),
    ?assertEqual(Err, call(A, partisan, cast_message, [NB, S, hi, #{channel => nochan}])),
    ?assertEqual(Err, call(A, partisan, cast_message, [NB, nochan, S, hi, []])),
    ?assertEqual(Err, call(A, partisan_peer_service, forward_message,
                           [NB, nochan, S, hi, #{}])),
    ?assertEqual(Err, call(A, partisan_peer_service, cast_message,
                           [NB, S, hi, #{channel => nochan}])),
    %% To this node too.
    ?assertEqual(Err, call(A, partisan, forward_message,
                           [node_name(A), S, hi, #{channel => nochan}])),
    ?assertEqual(ok, call(A, partisan, forward_message,
                          [node_name(A), S, hi, #{channel => vnode}])),
    %% Each configured channel carries a round trip (with and without a key).
    [?assertMatch({{ok, #{from := NB, same := true}}, _},
                  {call(A, partisan_test_server, roundtrip, [NB, How, {on, How}, 10000]), How})
     || Ch <- ?ALL_CHANNELS,
        How <- [{fwd4, S, #{channel => Ch}},
                {fwd5, Ch, S, #{partition_key => 7}},
                {fwd5, Ch, S, #{partition_key => {a, key}}}]],
    ok.

%% 8 concurrent senders on a, 100,000 messages on channel vnode
%% (parallelism 4) with partition keys 0..3, a term key and no key: per
%% (sender, key) they arrive in order, and all arrive. The integer keys
%% use all four connections.
fifo_per_partition_key(Config) ->
    [A, B] = Nodes = ?config(nodes, Config),
    form_cluster(Nodes),
    wait_connections(A, [node_name(B)]),
    NB = node_name(B),
    Senders = 8,
    PerSender = 12500,
    Total = Senders * PerSender,
    {ok, _} = call(B, ?MODULE, sink_start, [fifo_sink]),
    Sockets0 = peer_sockets(A, B),
    T0 = erlang:monotonic_time(millisecond),
    {Results, SendMs} = call(A, ?MODULE, fifo_send, [NB, fifo_sink, Senders, PerSender, vnode],
                             120000),
    ?assertEqual(lists:duplicate(Senders, ok), Results),
    Final = wait_until("all messages on b",
                       fun() -> call(B, ?MODULE, sink_query, [fifo_sink]) end,
                       fun(#{count := C, violations := V}) -> C >= Total orelse V =/= [] end,
                       60000),
    AllMs = erlang:monotonic_time(millisecond) - T0,
    #{count := Count, violations := Violations, streams := Streams} = Final,
    ct:log("~p messages from ~p senders: sent in ~p ms, all received after ~p ms (~p msg/s)",
           [Total, Senders, SendMs, AllMs, Total * 1000 div max(1, AllMs)]),
    ?assertEqual([], Violations),
    ?assertEqual(Total, Count),
    %% Every (sender, key) stream got messages.
    ?assertEqual(Senders * 6, maps:size(Streams)),
    %% The channel vnode carried them.
    StatsA = call(A, partisan, stats, []),
    ?assert(stat(StatsA, NB, vnode, messages_sent) >= Total),
    ?assert(stat(StatsA, NB, undefined, messages_sent) < Total div 10),
    %% The four connections of vnode each carried a good share of the
    %% bytes: a's sockets to b's listener, before and after.
    case Sockets0 of
        unavailable ->
            ct:comment("per-connection check skipped: ss not usable"),
            ok;
        _ ->
            Sockets1 = peer_sockets(A, B),
            Deltas = lists:reverse(lists:sort(
                                     [Sent - maps:get(LPort, Sockets0, 0)
                                      || {LPort, Sent} <- maps:to_list(Sockets1)])),
            ct:log("bytes sent per connection a -> b: ~p", [Deltas]),
            ?assertEqual(7, length(Deltas)),
            Sum = lists:sum(Deltas),
            [?assert(D >= Sum div 10) || D <- lists:sublist(Deltas, 4)]
    end,
    ok.

%% A stream of 8 MiB messages on channel bulk does not delay small
%% messages on channel vnode (p90 round trip at least 5x lower than with
%% both on the default channel).
head_of_line(Config) ->
    [A, B] = Nodes = ?config(nodes, Config),
    form_cluster(Nodes),
    wait_connections(A, [node_name(B)]),
    NB = node_name(B),
    {ok, _} = call(B, ?MODULE, sink_start, [hol_sink]),
    {ok, _} = call(B, ?MODULE, echo_start, [hol_echo]),
    Run = fun(BulkCh, ProbeCh) ->
                  R = call(A, ?MODULE, hol_run, [NB, BulkCh, ProbeCh, 3500], 90000),
                  #{latencies := Ls, bulk_sent := Sent, stream := Stream} = R,
                  %% Let the bulk stream drain before going on.
                  wait_until("the bulk messages on b",
                             fun() -> call(B, ?MODULE, sink_query, [hol_sink]) end,
                             fun(#{streams := St}) ->
                                     count_last(Stream, St) =:= {Sent, Sent}
                             end, 60000),
                  Summary = summary(Ls),
                  ct:log("bulk on ~p, probes on ~p: ~p bulk messages (~p MiB/s), "
                         "probe round trips (us): ~p",
                         [BulkCh, ProbeCh, Sent, Sent * 8 * 1000 div maps:get(ms, R), Summary]),
                  ?assert(Sent >= 10, "the bulk stream hardly moved"),
                  Summary
          end,
    %% p90, not p99: on a loaded machine (CI) the slowest percent of the
    %% separate channel's probes wait for the CPU, not behind the bulk
    %% messages; p99 is then only ~4x lower, p90 still ~20x.
    #{p90 := Separate} = S1 = Run(bulk, vnode),
    #{p90 := Shared} = S2 = Run(undefined, undefined),
    ct:comment("p90 round trip: ~p us separate channels, ~p us shared channel",
               [Separate, Shared]),
    ct:log("separate: ~p~nshared: ~p", [S1, S2]),
    ?assert(Separate * 5 =< Shared,
            lists:flatten(io_lib:format("p90 ~p us (separate channels) is not 5x lower "
                                        "than ~p us (shared channel)", [Separate, Shared]))),
    ok.

%% On the monotonic channel gossip, with b's C-node stopped for 1.5 s, a
%% sends 20,000 increasing values to one process on b: it gets the last
%% one, in increasing order, and far fewer than 20,000 messages; a counts
%% the dropped ones.
monotonic(Config) ->
    [A, B] = Nodes = ?config(nodes, Config),
    form_cluster(Nodes),
    wait_connections(A, [node_name(B)]),
    NB = node_name(B),
    N = 20000,
    {ok, _} = call(B, ?MODULE, sink_start, [mono_sink]),
    #{cnode_os_pid := PidB} = B,
    Pad = 4096,
    try
        _ = os:cmd("kill -STOP " ++ integer_to_list(PidB)),
        ok = call(A, ?MODULE, mono_send_start, [NB, mono_sink, N, gossip, Pad]),
        timer:sleep(1500)
    after
        _ = os:cmd("kill -CONT " ++ integer_to_list(PidB))
    end,
    Sent = wait_until("a's sender to finish", fun() -> call(A, ?MODULE, mono_send_result, []) end,
                      fun(R) -> R =/= pending end, 30000),
    ct:log("sender: ~p", [Sent]),
    ?assertMatch({ok, _Ms}, Sent),
    Final = wait_until("the last value on b",
                       fun() -> call(B, ?MODULE, sink_query, [mono_sink]) end,
                       fun(#{streams := St, violations := V}) ->
                               V =/= [] orelse element(2, count_last(mono, St)) =:= N
                       end, 30000),
    %% Nothing more arrives afterwards.
    timer:sleep(500),
    ?assertEqual(Final, call(B, ?MODULE, sink_query, [mono_sink])),
    #{count := Count, violations := Violations} = Final,
    StatsA = call(A, partisan, stats, []),
    Dropped = stat(StatsA, NB, gossip, dropped),
    ct:log("received ~p of ~p, dropped on a: ~p~nstats on a: ~p",
           [Count, N, Dropped, maps:get(NB, StatsA)]),
    ct:comment("received ~p of ~p, ~p dropped", [Count, N, Dropped]),
    ?assertEqual([], Violations),
    ?assert(Count =< N div 2, "a monotonic channel delivered most messages"),
    ?assert(Dropped > 0),
    ?assert(Dropped + Count =< N),
    ok.

%% One connection of channel vnode (index 2, the one partition key 2
%% uses) breaks (the C-node's fault injection call): it comes back,
%% counted in reconnects, the other connections and channels untouched.
%% Messages pinned to it by their key wait for it and arrive in order;
%% unkeyed messages whose sender affinity picks it go on a sibling
%% connection meanwhile, so they arrive before the pinned ones although
%% sent after them.
lose_one_connection(Config) ->
    [A, B] = Nodes = ?config(nodes, Config),
    form_cluster(Nodes),
    NB = node_name(B),
    wait_connections(A, [NB]),
    {ok, _} = call(B, ?MODULE, sink_start, [lose_sink]),
    Stats0 = call(A, partisan, stats, []),
    ?assertEqual({error, {bad_request, {fault, close_link, NB, vnode, 4}}},
                 call(A, partisan_cnode, control, [{fault, close_link, NB, vnode, 4}])),
    Pinned = 200,
    T0 = erlang:monotonic_time(millisecond),
    ?assertEqual(ok, call(A, ?MODULE, break_and_send, [NB, vnode, 2, Pinned])),
    Sink = wait_until("the pinned and the unkeyed messages",
                      fun() -> call(B, ?MODULE, sink_query, [lose_sink]) end,
                      fun(#{streams := St}) ->
                              count_last(pinned, St) =:= {Pinned, Pinned} andalso
                                  count_last(sibling, St) =:= {100, 100}
                      end, ?WAIT),
    Ms = erlang:monotonic_time(millisecond) - T0,
    #{streams := #{pinned := PinnedInfo, sibling := SiblingInfo}} = Sink,
    ct:log("after ~p ms: pinned ~p, unkeyed ~p", [Ms, PinnedInfo, SiblingInfo]),
    ?assertEqual([], maps:get(violations, Sink)),
    ?assert(maps:get(last_at, SiblingInfo) < maps:get(first_at, PinnedInfo),
            "unkeyed messages waited for their broken connection"),
    %% It is back, counted; nothing else moved.
    Stats1 = wait_until("vnode's connection 2 again",
                        fun() -> call(A, partisan, stats, []) end,
                        fun(S) ->
                                stat(S, NB, vnode, connections) =:= 4 andalso
                                    delta(S, Stats0, NB, vnode, reconnects) >= 1
                        end, ?WAIT),
    ct:log("stats: ~p", [maps:get(NB, Stats1)]),
    ?assertEqual(1, delta(Stats1, Stats0, NB, vnode, reconnects)),
    [begin
         ?assertEqual(1, stat(Stats1, NB, Ch, connections)),
         ?assertEqual(0, delta(Stats1, Stats0, NB, Ch, reconnects))
     end || Ch <- [undefined, bulk, gossip]],
    ?assertEqual(?EXPECTED_CONNECTIONS, maps:get(NB, call(A, partisan, connections, []))),
    ?assertEqual([node_name(A), NB], call(A, partisan, members, [])),
    %% All keys and channels carry messages again.
    {ok, _} = call(B, ?MODULE, sink_start, [fifo_sink]),
    {Results, _} = call(A, ?MODULE, fifo_send, [NB, fifo_sink, 4, 1000, vnode], 60000),
    ?assertEqual([ok, ok, ok, ok], Results),
    After = wait_until("messages after the reconnection",
                       fun() -> call(B, ?MODULE, sink_query, [fifo_sink]) end,
                       fun(#{count := C}) -> C >= 4000 end, ?WAIT),
    ?assertEqual([], maps:get(violations, After)),
    [?assertMatch({{ok, #{same := true}}, _},
                  {call(A, partisan_test_server, roundtrip,
                        [NB, {fwd4, partisan_test_server, #{channel => Ch}}, hi, 10000]), Ch})
     || Ch <- ?ALL_CHANNELS],
    ok.

%%--------------------------------------------------------------------
%% Helpers (on the test node)
%%--------------------------------------------------------------------

%% Waits until N's connections() shows every channel's parallelism to
%% each of Peers (and no one else).
wait_connections(N, Peers) ->
    Expected = maps:from_list([{P, ?EXPECTED_CONNECTIONS} || P <- Peers]),
    wait_until(io_lib:format("connections() on ~p", [node_name(N)]),
               fun() -> call(N, partisan, connections, []) end,
               fun(C) -> C =:= Expected end, ?WAIT).

%% {Count, Last} of a stream in a sink_query result ({0, 0} if none).
count_last(Stream, Streams) ->
    case Streams of
        #{Stream := #{count := C, last := L}} -> {C, L};
        #{} -> {0, 0}
    end.

stat(Stats, Node, Channel, Key) ->
    maps:get(Key, maps:get(Channel, maps:get(Node, Stats, #{}), #{}), 0).

delta(New, Old, Node, Channel, Key) ->
    stat(New, Node, Channel, Key) - stat(Old, Node, Channel, Key).

summary(Latencies) ->
    Sorted = lists:sort(Latencies),
    Len = length(Sorted),
    Pct = fun(P) -> lists:nth(max(1, min(Len, ceil(P * Len / 100))), Sorted) end,
    #{n => Len, p50 => Pct(50), p90 => Pct(90), p99 => Pct(99), max => lists:last(Sorted),
      timeouts => length([L || L <- Sorted, L >= 2000000])}.

%% The TCP connections a's C-node dialed to b's listener (on these, a
%% sends to b): #{LocalPort => BytesSent}, or unavailable without a
%% usable `ss'.
peer_sockets(#{cnode_os_pid := PidA}, B) ->
    PortB = listen_port(B),
    Out = os:cmd("ss -tnpiH state established dst 127.0.0.1:" ++ integer_to_list(PortB)
                 ++ " 2>&1"),
    Records = string:split(Out, "\n", all),
    case parse_ss(Records, PidA, #{}) of
        M when map_size(M) > 0 -> M;
        _ -> ct:log("ss output: ~ts", [Out]), unavailable
    end.

parse_ss([Line, Info | Rest], Pid, Acc) when Line =/= [] ->
    PidStr = "pid=" ++ integer_to_list(Pid) ++ ",",
    case string:find(Line, PidStr) =/= nomatch andalso
        re:run(Line, "127\\.0\\.0\\.1:(\\d+)\\s+127\\.0\\.0\\.1:\\d+",
               [{capture, all_but_first, list}]) of
        {match, [LPort]} ->
            Sent = case re:run(Info, "bytes_sent:(\\d+)", [{capture, all_but_first, list}]) of
                       {match, [S]} -> list_to_integer(S);
                       nomatch -> 0
                   end,
            parse_ss(Rest, Pid, Acc#{list_to_integer(LPort) => Sent});
        _ ->
            parse_ss([Info | Rest], Pid, Acc)
    end;
parse_ss([_ | Rest], Pid, Acc) ->
    parse_ss(Rest, Pid, Acc);
parse_ss([], _Pid, Acc) ->
    Acc.

listen_port(B) ->
    #{listen_addrs := [#{port := Port} | _]} = call(B, partisan, node_spec, []),
    Port.

%%--------------------------------------------------------------------
%% Run on the peers
%%--------------------------------------------------------------------

%% A registered process taking {seqmsg, Stream, Seq, _}. Per stream it
%% keeps the count, the last Seq, and when (the total count at the time)
%% the first and the last message arrived; a Seq not above the stream's
%% last is a violation (the first 10 are kept).
sink_start(Name) ->
    catch exit(whereis(Name), kill),
    Parent = self(),
    Pid = spawn(fun() ->
                        register(Name, self()),
                        Parent ! {Name, ready},
                        sink_loop(0, #{}, [])
                end),
    receive {Name, ready} -> {ok, Pid} after 5000 -> {error, timeout} end.

sink_loop(Count, Streams, Violations) ->
    receive
        {seqmsg, Stream, Seq, _} ->
            At = Count + 1,
            case Streams of
                #{Stream := {C, Last, First, _}} when Seq > Last ->
                    sink_loop(At, Streams#{Stream := {C + 1, Seq, First, At}}, Violations);
                #{Stream := {C, Last, First, _}} ->
                    V = case length(Violations) < 10 of
                            true -> [{Stream, Last, Seq} | Violations];
                            false -> Violations
                        end,
                    sink_loop(At, Streams#{Stream := {C + 1, Last, First, At}}, V);
                #{} ->
                    sink_loop(At, Streams#{Stream => {1, Seq, At, At}}, Violations)
            end;
        {sink_query, From, Ref} ->
            From ! {Ref, #{count => Count,
                           streams => maps:map(fun(_, {C, Last, First, LastAt}) ->
                                                       #{count => C, last => Last,
                                                         first_at => First, last_at => LastAt}
                                               end, Streams),
                           violations => lists:reverse(Violations)}},
            sink_loop(Count, Streams, Violations)
    end.

sink_query(Name) ->
    Ref = make_ref(),
    Name ! {sink_query, self(), Ref},
    receive {Ref, R} -> R after 10000 -> {error, timeout} end.

%% A registered process answering {probe, Node, Pid, Seq, Channel} with
%% {probe_reply, Seq} through partisan on the same channel.
echo_start(Name) ->
    catch exit(whereis(Name), kill),
    Parent = self(),
    Pid = spawn(fun() ->
                        register(Name, self()),
                        Parent ! {Name, ready},
                        echo_loop()
                end),
    receive {Name, ready} -> {ok, Pid} after 5000 -> {error, timeout} end.

echo_loop() ->
    receive
        {probe, Node, Pid, Seq, Channel} ->
            _ = partisan:forward_message(Node, Pid, {probe_reply, Seq}, #{channel => Channel}),
            echo_loop();
        _ ->
            echo_loop()
    end.

%% Sends {seqmsg, Stream, I, Pad} for I in From..To to Dest on Node.
send_stream(_Node, _Dest, _Stream, I, To, _Opts, _Pad) when I > To ->
    ok;
send_stream(Node, Dest, Stream, I, To, Opts, Pad) ->
    case partisan:forward_message(Node, Dest, {seqmsg, Stream, I, Pad}, Opts) of
        ok -> send_stream(Node, Dest, Stream, I + 1, To, Opts, Pad);
        Error -> {error, I, Error}
    end.

%% Senders processes each send PerSender messages on Channel, each with
%% one of the keys none, 0, 1, 2, 3, {user, 42} (at random); stream
%% {Sender, Key}, sequence numbers increasing per sender.
%% {[ok | Error per sender], Ms}.
fifo_send(Node, Dest, Senders, PerSender, Channel) ->
    Parent = self(),
    T0 = erlang:monotonic_time(millisecond),
    Pids = [spawn_link(fun() -> Parent ! {self(), fifo_sender(Node, Dest, S, PerSender, Channel)}
                       end)
            || S <- lists:seq(1, Senders)],
    Results = [receive {P, R} -> R after 120000 -> timeout end || P <- Pids],
    {Results, erlang:monotonic_time(millisecond) - T0}.

fifo_sender(Node, Dest, S, N, Channel) ->
    _ = rand:seed(exsss, {S, 17, 4711}),
    fifo_sender(Node, Dest, S, 1, N, Channel).

fifo_sender(_Node, _Dest, _S, I, N, _Channel) when I > N ->
    ok;
fifo_sender(Node, Dest, S, I, N, Channel) ->
    Key = element(rand:uniform(6), {none, 0, 1, 2, 3, {user, 42}}),
    Opts = case Key of
               none -> #{channel => Channel};
               _ -> #{channel => Channel, partition_key => Key}
           end,
    case partisan:forward_message(Node, Dest, {seqmsg, {S, Key}, I, <<>>}, Opts) of
        ok -> fifo_sender(Node, Dest, S, I + 1, N, Channel);
        Error -> {error, I, Error}
    end.

%% For DurationMs: one process streams 8 MiB binaries to hol_sink on Node
%% on BulkChannel, as fast as partisan takes them, while this one
%% measures round trips of small messages to hol_echo on ProbeChannel.
hol_run(Node, BulkChannel, ProbeChannel, DurationMs) ->
    Stream = {bulk, erlang:unique_integer([positive])},
    Bin = rand:bytes(8 * ?MIB),
    Bulk = spawn_link(fun() -> bulk_loop(Node, BulkChannel, Stream, Bin, 0) end),
    T0 = erlang:monotonic_time(millisecond),
    timer:sleep(500),    % the bulk stream fills the queues first
    Deadline = T0 + DurationMs,
    Latencies = probe_loop(Node, ProbeChannel, Deadline, 1, []),
    Bulk ! {stop, self()},
    Sent = receive {bulk_sent, S} -> S after 60000 -> exit(bulk_sender_stuck) end,
    #{latencies => Latencies, bulk_sent => Sent, stream => Stream,
      ms => erlang:monotonic_time(millisecond) - T0}.

bulk_loop(Node, Channel, Stream, Bin, I) ->
    receive
        {stop, From} -> From ! {bulk_sent, I}
    after 0 ->
            ok = partisan:forward_message(Node, hol_sink, {seqmsg, Stream, I + 1, Bin},
                                          #{channel => Channel}),
            bulk_loop(Node, Channel, Stream, Bin, I + 1)
    end.

probe_loop(Node, Channel, Deadline, Seq, Acc) ->
    case erlang:monotonic_time(millisecond) >= Deadline of
        true ->
            lists:reverse(Acc);
        false ->
            T0 = erlang:monotonic_time(microsecond),
            ok = partisan:forward_message(Node, hol_echo, {probe, node(), self(), Seq, Channel},
                                          #{channel => Channel}),
            L = receive
                    {probe_reply, Seq} -> erlang:monotonic_time(microsecond) - T0
                after 2000 ->
                        2000000
                end,
            timer:sleep(5),
            probe_loop(Node, Channel, Deadline, Seq + 1, [L | Acc])
    end.

%% Starts a process sending {seqmsg, mono, I, Pad} for I in 1..N to Dest
%% on Node on Channel; mono_send_result/0 tells when it is done.
mono_send_start(Node, Dest, N, Channel, PadBytes) ->
    persistent_term:put(mono_send_result, pending),
    Pad = binary:copy(<<"m">>, PadBytes),
    _ = spawn(fun() ->
                      T0 = erlang:monotonic_time(millisecond),
                      R = send_stream(Node, Dest, mono, 1, N, #{channel => Channel}, Pad),
                      Ms = erlang:monotonic_time(millisecond) - T0,
                      persistent_term:put(mono_send_result,
                                          case R of ok -> {ok, Ms}; _ -> R end)
              end),
    ok.

mono_send_result() ->
    persistent_term:get(mono_send_result, pending).

%% Breaks connection Index of Channel to Node, then sends Pinned messages
%% pinned to it (partition key Index, stream pinned), then 100 unkeyed
%% ones from a process whose affinity picks it (stream sibling), to
%% lose_sink on Node.
break_and_send(Node, Channel, Index, Pinned) ->
    ok = partisan_cnode:control({fault, close_link, Node, Channel, Index}),
    ok = send_stream(Node, lose_sink, pinned, 1, Pinned,
                     #{channel => Channel, partition_key => Index}, <<>>),
    Parent = self(),
    Ref = make_ref(),
    Pid = spawn(fun Find() ->
                        case erlang:phash2(self()) rem 4 of
                            Index ->
                                Parent ! {Ref, send_stream(Node, lose_sink, sibling, 1, 100,
                                                           #{channel => Channel}, <<>>)};
                            _ ->
                                spawn(Find)
                        end
                end),
    receive {Ref, R} -> R after 10000 -> {error, timeout, Pid} end.
