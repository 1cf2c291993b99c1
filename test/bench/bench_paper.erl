%% @doc The paper's experiments, partisan side by side with Distributed
%% Erlang on an emulated link (link_emulator), measured in the same run.
%% Run by test/bench/run_bench.sh (`make bench', `make bench-smoke').
%%
%% Both systems cross the same emulator, one after the other, case by case
%% (the order alternates between repetitions). Every setting starts with a
%% ping-pong that verifies the emulated RTT for each system. The ratio is
%% partisan msgs/s over Distributed Erlang msgs/s (above 1: partisan is
%% faster). Benchmarks, not tests: nothing here judges a timing; the run
%% fails only when the harness does (a node, a route, a lost message).
%%
%%   erl -noshell -pa DIR -eval 'bench_paper:main(["ROOT", "full" | Exps])'
%% Exps: exp1 exp2 exp3 exp4 (default: all of the profile).
-module(bench_paper).

-export([main/1]).

-define(RUN_TIMEOUT, 180000).

%%====================================================================
%% Profiles
%%====================================================================

profile("smoke") ->
    %% Every experiment once, small, at RTT 1 ms: checks the harness end to
    %% end in well under 3 minutes.
    #{name => smoke, reps => 1, buffer_bytes => 2097152, exps => [exp1, exp2, exp3, exp4],
      exp1 => #{rtts => [1], sizes => [1024], ns => [1, 16], count => fun(_, _) -> 1000 end},
      exp2 => #{rtts => [1], ns => [1, 16], size => 1024, count => 500,
                bg_size => 1048576, bg_interval_ms => 2, bg_streams => [{1, 2}],
                pings => 50},
      exp3 => #{rtts => [1], ns => [4], parallelism => [1, 4], size => 1048576,
                count => budget(32 bsl 20, 1000)},
      exp4 => #{rtts => [1], ns => [16], vnodes => 4, replicas => 3, r => 2, w => 2,
                keys => 100, get_share => 90, value_size => 1024, echo_size => 1024,
                ops => fun(_, _) -> 50 end}};
profile("full") ->
    #{name => full, reps => 3, buffer_bytes => 2097152, exps => [exp1, exp2, exp3, exp4],
      exp1 => #{rtts => [1, 20], sizes => [1024, 65536, 1048576], ns => [1, 4, 16, 64, 128],
                count => budget(256 bsl 20, 1000)},
      exp2 => #{rtts => [1, 20], ns => [1, 4, 16, 64], size => 1024, count => 1000,
                bg_size => 1048576, bg_interval_ms => 2, bg_streams => [{1, 2}],
                pings => 200},
      exp3 => #{rtts => [1, 20], ns => [1, 4, 16, 64], parallelism => [1, 2, 4, 8],
                size => 1048576, count => budget(256 bsl 20, 1000)},
      exp4 => #{rtts => [1, 20], ns => [1, 16, 64], vnodes => 8, replicas => 3, r => 2, w => 2,
                keys => 1000, get_share => 90, value_size => 1024, echo_size => 1024,
                ops => fun(Rtt, N) -> min(1000 div Rtt, max(20, 8000 div N)) end}}.

%% Messages per worker: `Budget' bytes over all workers, between 1 and Max.
budget(Budget, Max) -> fun(N, Size) -> max(1, min(Max, Budget div (N * Size))) end.

%%====================================================================
%% Entry
%%====================================================================

main([Root, ProfileName | Exps]) ->
    Status = try run(Root, ProfileName, Exps) of
                 ok -> 0;
                 {failed, Failures} ->
                     io:format("~nbench: ~b experiment(s) FAILED:~n", [length(Failures)]),
                     [io:format("  ~p~n", [F]) || F <- Failures],
                     1
             catch
                 Class:Reason:Stack ->
                     io:format("~nbench: CRASH ~p:~p~n~p~n", [Class, Reason, Stack]),
                     2
             end,
    erlang:halt(Status).

run(Root, ProfileName, Exps0) ->
    Profile = profile(ProfileName),
    Exps = case Exps0 of
               [] -> maps:get(exps, Profile);
               _ -> [list_to_atom(E) || E <- Exps0]
           end,
    Env = env(Root, Profile),
    ok = filelib:ensure_dir(filename:join(maps:get(out, Env), "x")),
    Machine = machine(Root),
    io:format("~n# partisan vs Distributed Erlang on an emulated link (~s)~n~n~s~n",
              [ProfileName, machine_line(Machine)]),
    Results = [{Exp, run_exp(Exp, Env, Profile)} || Exp <- Exps],
    write_summary(Env, Profile, Machine, Results),
    case [{E, Why} || {E, {error, Why, _}} <- Results] of
        [] -> ok;
        Failures -> {failed, Failures}
    end.

env(Root, Profile) ->
    Get = fun(Var, Default) -> case os:getenv(Var) of false -> Default; "" -> Default; V -> V end end,
    DefaultOut = case maps:get(name, Profile) of
                     full -> filename:join(Root, "bench/results");
                     smoke -> filename:join(Root, "build/bench/smoke")
                 end,
    #{root => Root,
      out => Get("BENCH_OUT", DefaultOut),
      emulator => Get("LINK_EMULATOR", filename:join(Root, "build/link_emulator")),
      partisan_ebin => Get("BENCH_PARTISAN_EBIN", filename:join(Root, "_build/default/lib/partisan/ebin")),
      bench_ebin => filename:dirname(code:which(?MODULE)),
      pidfile => Get("BENCH_PIDFILE", ""),
      time_limit_s => list_to_integer(Get("BENCH_TIME_LIMIT", "3600")),
      sbwt => Get("BENCH_SBWT", "none"),
      cookie => "bench_" ++ integer_to_list(erlang:unique_integer([positive])),
      buffer_bytes => list_to_integer(Get("BENCH_BUFFER", integer_to_list(maps:get(buffer_bytes, Profile)))),
      link_rate => link_rate(Get("BENCH_LINK_RATE", "0")),
      reps => list_to_integer(Get("BENCH_REPS", integer_to_list(maps:get(reps, Profile))))}.

run_exp(Exp, Env, Profile) ->
    Params = maps:get(Exp, Profile),
    T0 = erlang:monotonic_time(millisecond),
    {Title, Tables, Errors} = case Exp of
                                  exp1 -> exp1(Env, Params);
                                  exp2 -> exp2(Env, Params);
                                  exp3 -> exp3(Env, Params);
                                  exp4 -> exp4(Env, Params)
                              end,
    Secs = (erlang:monotonic_time(millisecond) - T0) / 1000,
    io:format("~n## ~s~n", [Title]),
    [io:format("~n~s~s", [table_heading(Name), table(Rows)]) || {Name, Rows} <- Tables],
    io:format("~n(~.1f s)~n", [Secs]),
    [write_csv(Env, Name, Rows) || {Name, Rows} <- Tables],
    case Errors of
        [] -> {ok, Title, Tables};
        _ -> {error, Errors, {Title, Tables}}
    end.

%%====================================================================
%% Settings: one emulator, both systems, RTT verified
%%====================================================================

%% Runs `Fun(State, Rtts)' on a fresh setting (emulator + clusters) with the
%% RTT verified for each `{Tag, Via}' of `Checks'; returns its rows, or
%% `{error, Why}' (logged) when the setting failed. The emulator has the
%% shared link cap `link_cap' of `Env' (bytes/s; 0 or absent: none).
with_setting(Env, Rtt, Clusters, Checks, Fun) ->
    Cap = maps:get(link_cap, Env, 0),
    Spec = #{rtt_ms => Rtt, buffer_bytes => maps:get(buffer_bytes, Env), link_rate => Cap,
             clusters => Clusters, env => Env},
    case catch_all(fun() -> bench_cluster:start(Spec) end) of
        {error, Why} ->
            io:format("setting RTT ~p ms: FAILED to start: ~p~n", [Rtt, Why]),
            {error, {start, Rtt, Why}};
        {ok, State} ->
            try
                Rtts = [{Tag, Via, bench_cluster:verify_rtt(State, Tag, Via)} || {Tag, Via} <- Checks],
                Pings = [io_lib:format("~s ~s ~.2f/~.2f ms",
                                       [Tag, via_label(Via), maps:get(min, R), maps:get(median, R)])
                         || {Tag, Via, R} <- Rtts],
                io:format("emulated RTT ~p ms, ~s, ping-pong min/median: ~s~n",
                          [Rtt, link_cap_note(Cap), lists:join(", ", Pings)]),
                Fun(State, maps:from_list([{Tag, R} || {Tag, _, R} <- Rtts]))
            catch
                Class:Reason:Stack ->
                    io:format("setting RTT ~p ms: FAILED: ~p:~p~n~p~n", [Rtt, Class, Reason, Stack]),
                    {error, {Rtt, Reason}}
            after
                bench_cluster:stop(State)
            end
    end.

%% BENCH_LINK_RATE: bytes/s per route and direction, shared by all the
%% route's connections; 0 (the default): no shared cap.
link_rate(Text) ->
    case string:to_integer(Text) of
        {Rate, ""} when Rate >= 0 -> Rate;
        _ -> erlang:error({bad_bench_link_rate, Text})
    end.

%% The shared link caps experiments 2 and 3 run with: none, and
%% BENCH_LINK_RATE when set.
link_caps(#{link_rate := 0}) -> [0];
link_caps(#{link_rate := Rate}) -> [0, Rate].

link_cap_note(0) -> "no shared link cap";
link_cap_note(Cap) -> "shared link cap " ++ cell(link_cap_cell(Cap)) ++ " MB/s".

link_cap_cell(0) -> none;
link_cap_cell(Cap) when Cap rem 1000000 =:= 0 -> Cap div 1000000;
link_cap_cell(Cap) -> round1(Cap / 1.0e6).

%% Runs `Setting(Rtt, State, RttMap)' in `with_setting' of the clusters for
%% every RTT, once per link cap (the cap in the Env the clusters start with); returns
%% `{Tables, Errors}': one table per cap (`Table', then `Table'_shared_cap),
%% every row ending with its cap (`link_cap_mb_s', MB/s, or none).
per_link_cap(Env, Table, Rtts, Clusters, Checks, Setting) ->
    Cases = [{Cap, gather([with_setting(Env#{link_cap => Cap}, Rtt, Clusters, Checks,
                                        fun(State, RttMap) -> Setting(Rtt, State, RttMap) end)
                           || Rtt <- Rtts])}
             || Cap <- link_caps(Env)],
    {[{cap_table(Table, Cap), [Row ++ [{link_cap_mb_s, link_cap_cell(Cap)}] || Row <- Rows]}
      || {Cap, {Rows, _}} <- Cases],
     lists:append([Errs || {_, {_, Errs}} <- Cases])}.

cap_table(Table, 0) -> Table;
cap_table(Table, _) -> list_to_atom(atom_to_list(Table) ++ "_shared_cap").

catch_all(F) ->
    try {ok, F()} catch Class:Reason:Stack -> {error, {Class, Reason, hd(Stack ++ [none])}} end.

via_label(dist) -> "dist";
via_label({partisan, Ch}) -> io_lib:format("partisan/~s", [Ch]).

%% Splits the results of several settings into rows and errors.
gather(Results) ->
    lists:foldl(fun({error, Why}, {Rows, Errs}) -> {Rows, Errs ++ [Why]};
                   (Rs, {Rows, Errs}) -> {Rows ++ Rs, Errs}
                end, {[], []}, Results).

rtt_cell(#{min := Min, median := Med}) -> io_lib:format("~.2f/~.2f", [Min, Med]).

%% Repeats `Measure(System)' for each system, alternating the order, and
%% returns `#{System => Run}' with the median run of each (by its `us').
runs(Reps, Systems, Measure) ->
    All = lists:append(
            [[{S, Measure(S)} || S <- case Rep rem 2 of 1 -> Systems; 0 -> lists:reverse(Systems) end]
             || Rep <- lists:seq(1, Reps)]),
    maps:from_list(
      [{S, begin
               Rs = lists:sort(fun(#{us := A}, #{us := B}) -> A =< B end, [R || {S1, R} <- All, S1 =:= S]),
               lists:nth((length(Rs) + 1) div 2, Rs)
           end} || S <- Systems]).

os_env(Var, Default) ->
    case os:getenv(Var) of false -> Default; "" -> Default; V -> V end.

percentile(Sorted, P) ->
    lists:nth(max(1, min(length(Sorted), round(P / 100 * length(Sorted)))), Sorted).

%%====================================================================
%% Experiment 1: distribution as a library (Fig. 1)
%%====================================================================

exp1(Env, P = #{rtts := Rtts}) ->
    Title = "Experiment 1: distribution as a library (2 nodes, one channel; "
            "N workers on node 1 each send M messages to a receiver on node 2; time until all arrived)",
    Clusters = [{d, dist, 2, #{}}, {p, partisan, 2, #{}}],
    Checks = [{d, dist}, {p, {partisan, undefined}}],
    {Rows, Errs} =
        gather([with_setting(Env, Rtt, Clusters, Checks,
                             fun(State, RttMap) -> exp1_setting(Env, P, Rtt, State, RttMap) end)
                || Rtt <- Rtts]),
    {Title, [{exp1_library, [R || {main, R} <- Rows]}, {exp1_cpu, [R || {cpu, R} <- Rows]}], Errs}.

exp1_setting(Env, #{sizes := Sizes, ns := Ns, count := CountF}, Rtt, State, RttMap) ->
    lists:append(
      [begin
           Count = CountF(N, Size),
           Total = N * Count,
           #{d := D, p := Pa} =
               runs(maps:get(reps, Env), [d, p],
                    fun(d) -> bulk(State, d, dist, N, Count, Size);
                       (p) -> bulk(State, p, {partisan, undefined}, N, Count, Size)
                    end),
           #{us := TD} = D,
           #{us := TP} = Pa,
           Row = [{rtt_ms, Rtt},
                  {rtt_dist_ms, rtt_cell(maps:get(d, RttMap))},
                  {rtt_partisan_ms, rtt_cell(maps:get(p, RttMap))},
                  {payload_bytes, Size}, {n, N}, {msgs_per_worker, Count}, {msgs, Total},
                  {dist_ms, ms(TD)}, {dist_msgs_s, rate(Total, TD)},
                  {partisan_ms, ms(TP)}, {partisan_msgs_s, rate(Total, TP)},
                  {ratio, ratio(rate(Total, TP), rate(Total, TD))},
                  {dist_cpu_us_msg, cpu_per_msg(D, Total)},
                  {partisan_cpu_us_msg, cpu_per_msg(Pa, Total)}],
           print_progress(Row),
           [{main, Row} | [{cpu, cpu_row(Rtt, Size, N, Total, Sys, Run)} || {Sys, Run} <- [{dist, D}, {partisan, Pa}]]]
       end || Size <- Sizes, N <- Ns]).

%% CPU of every process of the run (both BEAMs, C-nodes, emulator), per message.
cpu_per_msg(#{cpu := Cpu}, Total) -> round1(lists:sum([V || {_, V} <- Cpu]) / 1000 / Total).

round1(X) -> round(X * 10) / 10.

%% Where the CPU went: microseconds per message in each process, and the
%% cores kept busy (all processes' CPU time over the run's wall time).
cpu_row(Rtt, Size, N, Total, Sys, #{us := Us, cpu := Cpu}) ->
    Get = fun(L) -> case proplists:get_value(L, Cpu) of
                        undefined -> "";
                        V -> round1(V / 1000 / Total)
                    end end,
    [{rtt_ms, Rtt}, {payload_bytes, Size}, {n, N}, {system, Sys},
     {total_us_msg, cpu_per_msg(#{cpu => Cpu}, Total)},
     {sender_beam, Get({beam, 1})}, {sender_cnode, Get({cnode, 1})},
     {emulator, Get(emulator)},
     {receiver_cnode, Get({cnode, 2})}, {receiver_beam, Get({beam, 2})},
     {cores_busy, round(lists:sum([V || {_, V} <- Cpu]) / 1000 / Us * 100) / 100}].

%% One bulk run on cluster `Tag' from node 1 to node 2:
%% `#{us => MicrosUntilAllArrived, cpu => [{Process, Ns}]}'.
bulk(State, Tag, Via, N, Count, Size) ->
    [N1, N2 | _] = bench_cluster:nodes_of(State, Tag),
    P1 = bench_cluster:peer_of(State, Tag, 1),
    P2 = bench_cluster:peer_of(State, Tag, 2),
    Ref = make_ref(),
    ok = bench_cluster:call(P2, bench_load, start_sink, [Via, {N1, Ref, N * Count}]),
    Cpu0 = bench_cluster:cpu_sample(State, Tag),
    case bench_cluster:call(P1, bench_load, run_senders, [Via, N2, {N, Count, Size}, Ref, ?RUN_TIMEOUT],
                            ?RUN_TIMEOUT + 10000) of
        {ok, Us} -> #{us => Us, cpu => bench_cluster:cpu_diff(Cpu0, bench_cluster:cpu_sample(State, Tag))};
        {error, timeout} -> erlang:error({run_timeout, Tag, Via, N, Count, Size})
    end.

%%====================================================================
%% Experiment 2: channels against interference (Fig. 2)
%%====================================================================

exp2(Env, P = #{rtts := Rtts}) ->
    #{bg_size := BgSize} = P,
    Streams = bg_streams(P),
    BgInt = bg_interval(P),
    Title = io_lib:format("Experiment 2: channels against interference (3 nodes; N workers on node 1 "
                          "send 1 KiB messages to node 2, with and without background traffic: "
                          "~b KiB every ~b ms on ~s (node to node); dist: one connection per node pair; "
                          "partisan_1ch: everything on the default channel; partisan_3ch: channels "
                          "request, metadata, gossip, the background on gossip)",
                          [BgSize div 1024, BgInt,
                           lists:join(", ", [io_lib:format("~b->~b", [F, T]) || {F, T} <- Streams])]),
    Channels = #{request => #{parallelism => 1}, metadata => #{parallelism => 1},
                 gossip => #{parallelism => 1}},
    Clusters = [{d, dist, 3, #{}}, {p, partisan, 3, #{channels => Channels}}],
    Checks = [{d, dist}, {p, {partisan, undefined}}, {p, {partisan, request}}],
    {Tables, Errs} =
        per_link_cap(Env, exp2_channels, Rtts, Clusters, Checks,
                     fun(Rtt, State, RttMap) -> exp2_setting(Env, P, Rtt, State, RttMap) end),
    {Title, Tables, Errs}.

%% BENCH_BG_STREAMS="1-2,2-3" overrides the background streams.
bg_streams(P) ->
    case os_env("BENCH_BG_STREAMS", "") of
        "" -> maps:get(bg_streams, P);
        Text -> [begin [F, T] = string:split(E, "-"), {list_to_integer(F), list_to_integer(T)} end
                 || E <- string:lexemes(Text, ",")]
    end.

bg_interval(P) ->
    list_to_integer(os_env("BENCH_BG_INTERVAL", integer_to_list(maps:get(bg_interval_ms, P)))).

%% Systems of experiment 2: {label, cluster, request via, background via}.
exp2_systems() ->
    [{dist, d, dist, dist},
     {partisan_1ch, p, {partisan, undefined}, {partisan, undefined}},
     {partisan_3ch, p, {partisan, request}, {partisan, gossip}}].

exp2_setting(Env, P, Rtt, State, RttMap) ->
    #{ns := Ns, size := Size, count := Count, pings := Pings, bg_size := BgSize} = P,
    Streams = bg_streams(P),
    BgInt = bg_interval(P),
    Systems = exp2_systems(),
    Labels = [L || {L, _, _, _} <- Systems],
    Cases = [{Load, N} || Load <- [off, on], N <- Ns],
    Measure =
        fun(Load, N) ->
                fun(Label) ->
                        {Label, Tag, ReqVia, BgVia} = lists:keyfind(Label, 1, Systems),
                        Cpu0 = bench_cluster:cpu_sample(State, Tag),
                        T0 = erlang:monotonic_time(microsecond),
                        start_bg(State, Tag, BgVia, Load, Streams, BgSize, BgInt),
                        Lat = case N of
                                  1 -> ping_stats(State, Tag, ReqVia, Pings, Size);
                                  _ -> none
                              end,
                        #{us := Us} = bulk(State, Tag, ReqVia, N, Count, Size),
                        Bg = stop_bg(State, Tag, Load),
                        Elapsed = erlang:monotonic_time(microsecond) - T0,
                        Cpu = bench_cluster:cpu_diff(Cpu0, bench_cluster:cpu_sample(State, Tag)),
                        #{us => Us, lat => Lat, bg_bytes_s => Bg * BgSize / (Elapsed / 1.0e6),
                          cores => lists:sum([V || {_, V} <- Cpu]) / 1000 / Elapsed}
                end
        end,
    Results = maps:from_list([{{Load, N}, runs(maps:get(reps, Env), Labels, Measure(Load, N))}
                              || {Load, N} <- Cases]),
    [begin
         #{Label := #{us := Us, lat := Lat, bg_bytes_s := Bg, cores := Cores},
           dist := #{us := DistUs}} = maps:get({Load, N}, Results),
         #{Label := #{us := QuietUs}} = maps:get({off, N}, Results),
         Msgs = N * Count,
         Row = [{rtt_ms, Rtt},
                {rtt_verified_ms, rtt_cell(maps:get(case Label of dist -> d; _ -> p end, RttMap))},
                {background, Load}, {payload_bytes, Size}, {n, N}, {msgs, Msgs},
                {system, Label}, {time_ms, ms(Us)}, {msgs_s, rate(Msgs, Us)},
                {ratio_vs_dist, ratio(rate(Msgs, Us), rate(Msgs, DistUs))},
                {slowdown_vs_quiet, ratio(Us, QuietUs)},
                {ping_p50_ms, lat_part(Lat, 1)}, {ping_p99_ms, lat_part(Lat, 2)},
                {bg_mb_s, round(Bg / 1.0e6)}, {cores_busy, round(Cores * 100) / 100}],
         print_progress(Row),
         Row
     end || {Load, N} <- Cases, Label <- Labels].

lat_cell(none) -> "";
lat_cell({P50, P99}) -> io_lib:format("~.2f/~.2f", [P50 / 1000, P99 / 1000]).

lat_part(none, _) -> "";
lat_part(Lat, I) -> round(element(I, Lat) / 10) / 100.

%% Ping-pong latency p50/p99 in microseconds.
ping_stats(State, Tag, Via, Count, Size) ->
    [_, N2 | _] = bench_cluster:nodes_of(State, Tag),
    P1 = bench_cluster:peer_of(State, Tag, 1),
    case bench_cluster:call(P1, bench_load, pings, [Via, N2, Count, Size], ?RUN_TIMEOUT) of
        {error, Why} -> erlang:error({pings, Tag, Via, Why});
        Us ->
            S = lists:sort(Us),
            {percentile(S, 50), percentile(S, 99)}
    end.

%% Background streams {From, To} (node numbers), each its own sender.
start_bg(_State, _Tag, _Via, off, _Streams, _Size, _Int) -> ok;
start_bg(State, Tag, Via, on, Streams, Size, Int) ->
    Nodes = list_to_tuple(bench_cluster:nodes_of(State, Tag)),
    [ok = bench_cluster:call(bench_cluster:peer_of(State, Tag, From), bench_load, start_background,
                             [Via, [element(To, Nodes)], Size, Int])
     || {From, To} <- Streams],
    timer:sleep(200),
    ok.

stop_bg(_State, _Tag, off) -> 0;
stop_bg(State, Tag, on) ->
    Nodes = bench_cluster:nodes_of(State, Tag),
    lists:sum([bench_cluster:call(bench_cluster:peer_of(State, Tag, I), bench_load, stop_background, [])
               || I <- lists:seq(1, length(Nodes))]).

%%====================================================================
%% Experiment 3: parallel connections (Figs. 3-4)
%%====================================================================

exp3(Env, P = #{rtts := Rtts, parallelism := Pars}) ->
    Title = "Experiment 3: parallel connections (2 nodes; one channel with parallelism K, "
            "sender affinity routing; N workers on node 1 each send M 1 MiB messages to node 2)",
    Channels = maps:from_list([{par_channel(K), #{parallelism => K}} || K <- Pars]),
    Clusters = [{d, dist, 2, #{}}, {p, partisan, 2, #{channels => Channels}}],
    Checks = [{d, dist}, {p, {partisan, par_channel(lists:max(Pars))}}],
    {Tables, Errs} =
        per_link_cap(Env, exp3_parallel, Rtts, Clusters, Checks,
                     fun(Rtt, State, RttMap) -> exp3_setting(Env, P, Rtt, State, RttMap) end),
    {Title, Tables, Errs}.

par_channel(K) -> list_to_atom("par" ++ integer_to_list(K)).

exp3_setting(Env, #{ns := Ns, parallelism := Pars, size := Size, count := CountF}, Rtt, State, RttMap) ->
    [begin
         Count = CountF(N, Size),
         Total = N * Count,
         Systems = [d | [par_channel(K) || K <- Pars]],
         Res = runs(maps:get(reps, Env), Systems,
                    fun(d) -> bulk(State, d, dist, N, Count, Size);
                       (Ch) -> bulk(State, p, {partisan, Ch}, N, Count, Size)
                    end),
         #{us := TD} = maps:get(d, Res),
         Rate = fun(S) -> rate(Total, maps:get(us, maps:get(S, Res))) end,
         Row = [{rtt_ms, Rtt},
                {rtt_dist_ms, rtt_cell(maps:get(d, RttMap))},
                {rtt_partisan_ms, rtt_cell(maps:get(p, RttMap))},
                {payload_bytes, Size}, {n, N}, {msgs_per_worker, Count}, {msgs, Total},
                {dist_ms, ms(TD)}, {dist_msgs_s, rate(Total, TD)}]
             ++ lists:append(
                  [[{list_to_atom("p" ++ integer_to_list(K) ++ "_msgs_s"), Rate(par_channel(K))},
                    {list_to_atom("ratio_p" ++ integer_to_list(K)), ratio(Rate(par_channel(K)), Rate(d))}]
                   || K <- Pars]),
         print_progress(Row),
         Row
     end || N <- Ns].

%%====================================================================
%% Experiment 4: echo service and quorum KV store (Figs. 5-6)
%%====================================================================

exp4(Env, P = #{rtts := Rtts}) ->
    #{vnodes := Vnodes, replicas := Replicas, r := R, w := W, get_share := Mix, keys := Keys,
      value_size := VSize, echo_size := ESize} = P,
    Title = io_lib:format(
              "Experiment 4: echo service and quorum key-value store (3 nodes, ~b vnodes each in one "
              "ring; N clients on node 1, one request at a time each; echo: ~b B to a random vnode; "
              "KV: ~b replicas, R = ~b, W = ~b, ~b% gets over ~b keys, ~b B values; partisan: channel "
              "vnode with parallelism 4, partition key = the key)",
              [Vnodes, ESize, Replicas, R, W, Mix, Keys, VSize]),
    Channels = #{vnode => #{parallelism => 4}},
    Clusters = [{d, dist, 3, #{}}, {p, partisan, 3, #{channels => Channels}}],
    Checks = [{d, dist}, {p, {partisan, vnode}}],
    {Rows, Errs} =
        gather([with_setting(Env, Rtt, Clusters, Checks,
                             fun(State, RttMap) -> exp4_setting(Env, P, Rtt, State, RttMap) end)
                || Rtt <- Rtts]),
    {Title, [{exp4_echo_kv, Rows}], Errs}.

exp4_setting(Env, P, Rtt, State, RttMap) ->
    #{ns := Ns, vnodes := Vnodes, replicas := Replicas, r := R, w := W, keys := Keys,
      get_share := Mix, value_size := ValueSize, echo_size := EchoSize, ops := OpsF} = P,
    Via = #{d => dist, p => {partisan, vnode, key}},
    Rings = maps:map(fun(Tag, V) -> ring(State, Tag, V, Vnodes) end, Via),
    [begin
         Ops = OpsF(Rtt, N),
         Measure =
             fun(Tag) ->
                     P1 = bench_cluster:peer_of(State, Tag, 1),
                     {Fun, Args} =
                         case Workload of
                             echo -> {run_echo_clients,
                                      [maps:get(Tag, Via), maps:get(Tag, Rings), {N, Ops}, EchoSize,
                                       ?RUN_TIMEOUT]};
                             kv -> {run_kv_clients,
                                    [maps:get(Tag, Via), maps:get(Tag, Rings), {Replicas, R, W},
                                     {N, Ops}, {Keys, Mix, ValueSize}, ?RUN_TIMEOUT]}
                         end,
                     case bench_cluster:call(P1, bench_load, Fun, Args, ?RUN_TIMEOUT + 10000) of
                         {ok, Us, Lat} -> #{us => Us, p50 => percentile(Lat, 50), p99 => percentile(Lat, 99)};
                         {error, timeout} -> erlang:error({run_timeout, Workload, Tag, N})
                     end
             end,
         #{d := D, p := Pa} = runs(maps:get(reps, Env), [d, p], Measure),
         Total = N * Ops,
         Row = [{rtt_ms, Rtt},
                {rtt_dist_ms, rtt_cell(maps:get(d, RttMap))},
                {rtt_partisan_ms, rtt_cell(maps:get(p, RttMap))},
                {workload, Workload}, {n, N}, {requests, Total},
                {dist_ms, ms(maps:get(us, D))}, {dist_req_s, rate(Total, maps:get(us, D))},
                {partisan_ms, ms(maps:get(us, Pa))}, {partisan_req_s, rate(Total, maps:get(us, Pa))},
                {ratio, ratio(rate(Total, maps:get(us, Pa)), rate(Total, maps:get(us, D)))},
                {dist_lat_p50_p99_ms, lat_cell({maps:get(p50, D), maps:get(p99, D)})},
                {partisan_lat_p50_p99_ms, lat_cell({maps:get(p50, Pa), maps:get(p99, Pa)})}],
         print_progress(Row),
         Row
     end || Workload <- [echo, kv], N <- Ns].

%% The ring: every node's vnodes, interleaved (vnode i of node 1, of node 2, ...).
ring(State, Tag, Via, Vnodes) ->
    Nodes = bench_cluster:nodes_of(State, Tag),
    PerNode = [bench_cluster:call(bench_cluster:peer_of(State, Tag, I), bench_load, start_kv, [Via, Vnodes])
               || I <- lists:seq(1, length(Nodes))],
    list_to_tuple(lists:append([[lists:nth(V, Pids) || Pids <- PerNode] || V <- lists:seq(1, Vnodes)])).

%%====================================================================
%% Output
%%====================================================================

ms(Us) -> round(Us / 100) / 10.
rate(Total, Us) -> round(Total / (Us / 1.0e6)).
ratio(A, B) when B > 0 -> round(A / B * 100) / 100;
ratio(_, _) -> 0.

print_progress(Row) ->
    io:format("  ~s~n", [lists:join(" ", [io_lib:format("~s=~s", [K, cell(V)]) || {K, V} <- Row])]).

cell(V) when is_integer(V) -> integer_to_list(V);
cell(V) when is_float(V) -> float_to_list(V, [{decimals, 2}, compact]);
cell(V) when is_atom(V) -> atom_to_list(V);
cell(V) -> lists:flatten(io_lib:format("~s", [V])).

table_heading(exp1_cpu) ->
    "CPU per message (microseconds of CPU in each process, over the median run; "
    "cores_busy = all processes' CPU time / wall time, at most 2 here):\n\n";
table_heading(Name) ->
    case lists:suffix("_shared_cap", atom_to_list(Name)) of
        true ->
            "With a shared link cap (`link_cap_mb_s`, MB/s per node and direction: all "
            "connections into a node together, and all out of it, get at most that much):\n\n";
        false -> ""
    end.

table([]) -> "(no results)\n";
table(Rows = [First | _]) ->
    Keys = [K || {K, _} <- First],
    Header = ["| ", lists:join(" | ", [atom_to_list(K) || K <- Keys]), " |\n",
              "|", lists:duplicate(length(Keys), "---|"), "\n"],
    Body = [["| ", lists:join(" | ", [cell(V) || {_, V} <- Row]), " |\n"] || Row <- Rows],
    lists:flatten([Header, Body]).

write_csv(_Env, _Name, []) -> ok;
write_csv(#{out := Out}, Name, Rows = [First | _]) ->
    Header = lists:join(",", [atom_to_list(K) || {K, _} <- First]),
    Lines = [lists:join(",", [csv_cell(V) || {_, V} <- Row]) || Row <- Rows],
    ok = file:write_file(filename:join(Out, atom_to_list(Name) ++ ".csv"),
                         [lists:join("\n", [Header | Lines]), "\n"]).

csv_cell(V) ->
    S = cell(V),
    case lists:member($,, S) of true -> [$", S, $"]; false -> S end.

write_summary(#{out := Out, reps := Reps, buffer_bytes := Buffer} = Env, Profile, Machine, Results) ->
    Sections = [begin
                    {Status, Title, Tables} =
                        case R of
                            {ok, T, Ts} -> {"", T, Ts};
                            {error, Errors, {T, Ts}} -> {io_lib:format("FAILED: ~p~n~n", [Errors]), T, Ts}
                        end,
                    ["## ", Title, "\n\n", Status,
                     [[table_heading(Name), table(Rows), "\n"] || {Name, Rows} <- Tables]]
                end || {_Exp, R} <- Results],
    Text = ["# Benchmark results (profile ", atom_to_list(maps:get(name, Profile)), ")\n\n",
            machine_line(Machine), " Load average at the end: ", load_average(), ".\n\n",
            io_lib:format("Emulated link: link_emulator, one-way delay RTT/2 each way, ~b KiB buffer "
                          "per connection and direction (a connection carries at most buffer/delay: "
                          "~b MB/s at RTT 20 ms), ~s.~n~n",
                          [Buffer div 1024, round(Buffer / 0.010 / 1.0e6), link_cap_text(Env)]),
            "Ratio: partisan msgs/s over Distributed Erlang msgs/s in the same run (above 1: "
            "partisan faster). Times are medians of ", integer_to_list(Reps),
            " repetitions (systems alternating); RTT columns: ping-pong min/median in ms, measured "
            "before the setting's runs.\n\n" | Sections],
    ok = file:write_file(filename:join(Out, "RESULTS.md"), Text).

link_cap_text(#{link_rate := 0}) ->
    "no shared bandwidth cap";
link_cap_text(#{link_rate := Rate}) ->
    io_lib:format("no shared bandwidth cap; experiments 2 and 3 also ran with one of ~s MB/s "
                  "per node and direction (all connections into a node share one, all out of it "
                  "another; tables `*_shared_cap`)", [cell(link_cap_cell(Rate))]).

load_average() ->
    case file:read_file("/proc/loadavg") of
        {ok, B} -> hd(string:split(string:trim(binary_to_list(B)), " ", all) ++ [""]);
        _ -> "?"
    end.

machine(Root) ->
    Load = load_average(),
    Commit = string:trim(os:cmd("git -C '" ++ Root ++ "' rev-parse --short HEAD 2>/dev/null")),
    Dirty = case string:trim(os:cmd("git -C '" ++ Root ++ "' status --porcelain -- c_src include erlang 2>/dev/null")) of
                "" -> "";
                _ -> "+local changes"
            end,
    Cpu = case string:trim(os:cmd("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2")) of
              "" -> "?";
              C -> C
          end,
    #{cores => erlang:system_info(logical_processors_online),
      cpu => Cpu,
      otp => erlang:system_info(otp_release),
      erts => erlang:system_info(version),
      kernel => string:trim(os:cmd("uname -r")),
      date => calendar:system_time_to_rfc3339(erlang:system_time(second)),
      load => Load,
      commit => Commit ++ Dirty}.

machine_line(#{cores := Cores, cpu := Cpu, otp := Otp, erts := Erts, kernel := K, date := D, load := L,
               commit := C}) ->
    io_lib:format("Machine: ~p cores (~s), OTP ~s (erts ~s), Linux ~s; load average ~s at start; "
                  "~s; partisan ~s.", [Cores, Cpu, Otp, Erts, K, L, D, C]).
