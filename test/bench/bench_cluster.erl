%% @doc Benchmark clusters on an emulated link, from the controlling node
%% (which is not distributed: it drives its peers over their standard_io).
%%
%% One `link_emulator' per setting carries both systems:
%% - Distributed Erlang nodes listen on fixed distribution ports and use
%%   `-epmd_module bench_epmd', which answers a node's relay port, so every
%%   connection between them (whoever dials) crosses the emulator;
%% - partisan nodes listen on fixed ports and advertise their relay port
%%   (`advertise_port'), so every C-node to C-node connection crosses it.
%% The two systems run one after the other on the same emulator; the RTT of
%% each is verified by a ping-pong when the cluster comes up.
-module(bench_cluster).

-export([start/1, stop/1, verify_rtt/3, call/4, call/5, nodes_of/2, peer_of/3]).
-export([free_ports/1, record_pid/2]).
-export([cpu_sample/2, cpu_diff/2, cpu_ns/1]).

-define(CALL_TIMEOUT, 60000).

%% @doc Starts the emulator and the clusters of a setting.
%% `Spec': `#{rtt_ms, buffer_bytes, clusters => [{Tag, dist | partisan, NumNodes, PartisanEnv}],
%%           env => Env}' where `Env' is the bench environment (paths, cookie);
%% optional `link_rate' (bytes/s; 0, the default: none) is the emulator's cap
%% per route and direction shared by all the route's connections.
%% Returns a map holding everything `stop/1' needs; stops what it started
%% when a step fails.
start(#{rtt_ms := Rtt, clusters := Clusters, env := Env} = Spec) ->
    Total = lists:sum([Num || {_, _, Num, _} <- Clusters]),
    Ports = free_ports(Total),
    {Emu, Relays} = start_emulator(Env, Ports, Rtt / 2, maps:get(buffer_bytes, Spec),
                                   maps:get(link_rate, Spec, 0)),
    start_clusters(Env, Clusters, lists:zip(Ports, Relays),
                   #{emulator => Emu, clusters => [], rtt_ms => Rtt, env => Env}).

start_clusters(_Env, [], _PortPairs, State) ->
    State;
start_clusters(Env, [{Tag, Sys, Num, PEnv} | Rest], PortPairs, State = #{clusters := Cs}) ->
    {Mine, Others} = lists:split(Num, PortPairs),
    C = try
            start_cluster(Env, Tag, Sys, Mine, PEnv)
        catch
            Class:Reason:Stack ->
                stop(State),
                erlang:raise(Class, Reason, Stack)
        end,
    start_clusters(Env, Rest, Others, State#{clusters := Cs ++ [{Tag, C}]}).

%% @doc Stops the peers (their C-nodes follow) and the emulator.
stop(#{emulator := Emu} = State) ->
    [stop_peers(C) || {_, C} <- maps:get(clusters, State, [])],
    stop_emulator(Emu),
    ok.

stop_peers(#{peers := Peers}) ->
    [catch peer:stop(P) || {P, _Node} <- Peers],
    ok.

%% @doc The node names of cluster `Tag'.
nodes_of(#{clusters := Cs}, Tag) ->
    #{peers := Peers} = proplists:get_value(Tag, Cs),
    [N || {_, N} <- Peers].

%% @doc The peer (controller handle) of node number `I' (1-based) of `Tag'.
peer_of(#{clusters := Cs}, Tag, I) ->
    #{peers := Peers} = proplists:get_value(Tag, Cs),
    element(1, lists:nth(I, Peers)).

call(Peer, M, F, A) -> call(Peer, M, F, A, ?CALL_TIMEOUT).

call(Peer, M, F, A, Timeout) ->
    case peer:call(Peer, M, F, A, Timeout) of
        {badrpc, _} = Bad -> erlang:error({peer_call, M, F, Bad});
        Result -> Result
    end.

%%====================================================================
%% Clusters
%%====================================================================

start_cluster(Env, Tag, Sys, PortPairs, PEnv) ->
    Uniq = integer_to_list(erlang:unique_integer([positive])),
    Names = [list_to_atom(lists:flatten(io_lib:format("bench_~s_~b_~s", [Tag, I, Uniq])))
             || I <- lists:seq(1, length(PortPairs))],
    Started = start_peers(Env, Sys, lists:zip(Names, [P || {P, _} <- PortPairs]), []),
    Cluster = #{sys => Sys, peers => Started},
    try
        connect(Sys, Cluster, PortPairs, PEnv),
        Cluster#{os_pids => os_pids(Sys, Started)}
    catch
        Class:Reason:Stack ->
            stop_peers(Cluster),
            erlang:raise(Class, Reason, Stack)
    end.

%% Starts the peers one by one; when one fails, stops those already up.
start_peers(_Env, _Sys, [], Acc) ->
    lists:reverse(Acc);
start_peers(Env, Sys, [{Name, Port} | Rest], Acc) ->
    Peer = try
               start_peer(Env, Sys, Name, Port)
           catch
               Class:Reason:Stack ->
                   stop_peers(#{peers => Acc}),
                   erlang:raise(Class, Reason, Stack)
           end,
    start_peers(Env, Sys, Rest, [Peer | Acc]).

start_peer(Env, Sys, Name, Port) ->
    #{cookie := Cookie, bench_ebin := BenchEbin, partisan_ebin := PEbin} = Env,
    Common = ["-setcookie", Cookie, "-pa", BenchEbin, "-pa", PEbin,
              "-kernel", "inet_dist_use_interface", "{127,0,0,1}",
              "+sbwt", maps:get(sbwt, Env, "none")],
    Extra = case Sys of
                partisan ->
                    ["-kernel", "dist_auto_connect", "never"];
                dist ->
                    P = integer_to_list(Port),
                    ["-epmd_module", "bench_epmd",
                     "-kernel", "inet_dist_listen_min", P, "-kernel", "inet_dist_listen_max", P]
            end,
    {ok, Peer, Node} = peer:start(#{name => Name, connection => standard_io,
                                    args => Common ++ Extra, wait_boot => 30000}),
    record_pid(Env, {peer, call(Peer, os, getpid, [])}),
    {Peer, Node}.

%% The OS processes of a cluster, for CPU accounting: each node's BEAM and,
%% for partisan, its C-node.
os_pids(partisan, Peers) ->
    lists:append([[{{beam, I}, list_to_integer(call(P, os, getpid, []))},
                   {{cnode, I}, maps:get(os_pid, call(P, partisan, status, []))}]
                  || {I, {P, _}} <- lists:zip(lists:seq(1, length(Peers)), Peers)]);
os_pids(dist, Peers) ->
    [{{beam, I}, list_to_integer(call(P, os, getpid, []))}
     || {I, {P, _}} <- lists:zip(lists:seq(1, length(Peers)), Peers)].

%% Distributed Erlang: every node maps every other node's name to its relay
%% port; node i dials node j > i (through the emulator).
connect(dist, #{peers := Peers}, PortPairs, _PEnv) ->
    Routes = [{atom_to_list(N), R} || {{_, N}, {_, R}} <- lists:zip(Peers, PortPairs)],
    [ok = call(P, application, set_env, [bench_epmd, ports, Routes]) || {P, _} <- Peers],
    connect_mesh(Peers),
    [ok = call(P, bench_load, start_echo, []) || {P, _} <- Peers],
    ok;
%% partisan: listen on the fixed port, advertise the relay's; all join node 1.
connect(partisan, #{peers := Peers}, PortPairs, PEnv) ->
    [begin
         ok = call(P, application, load, [partisan]),
         [ok = call(P, application, set_env, [partisan, K, V])
          || {K, V} <- [{listen_port, Port}, {advertise_port, Relay} | maps:to_list(PEnv)]],
         {ok, _} = call(P, application, ensure_all_started, [partisan]),
         case call(P, partisan, node_spec, []) of
             #{listen_addrs := [#{port := Relay} | _]} -> ok;
             Spec -> erlang:error({not_advertising_relay, Relay, Spec})
         end
     end || {{P, _}, {Port, Relay}} <- lists:zip(Peers, PortPairs)],
    [{P1, _} | Rest] = Peers,
    Spec1 = call(P1, partisan, node_spec, []),
    [ok = call(P, partisan, join, [Spec1]) || {P, _} <- Rest],
    All = lists:sort([N || {_, N} <- Peers]),
    wait_members(Peers, All, erlang:monotonic_time(millisecond) + 30000),
    [ok = call(P, bench_load, start_echo, []) || {P, _} <- Peers],
    ok.

wait_members(Peers, All, Deadline) ->
    Seen = [call(P, partisan, members, []) || {P, _} <- Peers],
    case lists:all(fun(M) -> M =:= All end, Seen) of
        true -> ok;
        false ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> erlang:error({members_incomplete, All, Seen});
                false -> timer:sleep(100), wait_members(Peers, All, Deadline)
            end
    end.

connect_mesh([]) -> ok;
connect_mesh([{P, _} | Rest]) ->
    [true = call(P, net_kernel, connect_node, [N]) || {_, N} <- Rest],
    connect_mesh(Rest).

%%====================================================================
%% RTT check
%%====================================================================

%% @doc Ping-pong from node 1 to node 2 of cluster `Tag' over `Via';
%% returns `#{min, median, max}' in ms. Raises when the minimum is below
%% the emulated RTT: the traffic would not be crossing the emulator.
verify_rtt(State = #{rtt_ms := Rtt}, Tag, Via) ->
    [_, N2 | _] = nodes_of(State, Tag),
    P1 = peer_of(State, Tag, 1),
    _ = call(P1, bench_load, pings, [Via, N2, 5, 64]),
    case call(P1, bench_load, pings, [Via, N2, 20, 64]) of
        {error, Why} -> erlang:error({rtt_check, Tag, Why});
        Us ->
            Sorted = lists:sort(Us),
            R = #{min => hd(Sorted) / 1000, median => lists:nth(10, Sorted) / 1000,
                  max => lists:last(Sorted) / 1000},
            case maps:get(min, R) >= Rtt of
                true -> R;
                false -> erlang:error({rtt_below_emulated, Tag, Via, R, Rtt})
            end
    end.

%%====================================================================
%% Emulator
%%====================================================================

%% Each route is a node: with a link rate, all connections into a node share
%% one cap, and all out of it another.
start_emulator(Env = #{emulator := Exe, time_limit_s := Limit}, Targets, DelayMs, Buffer, LinkRate) ->
    Routes = lists:append([["--route", "0=127.0.0.1:" ++ integer_to_list(P)] || P <- Targets]),
    Cap = case LinkRate of
              0 -> [];
              _ -> ["--link-rate-mbit", float_to_list(LinkRate * 8 / 1.0e6, [{decimals, 6}, compact])]
          end,
    Args = [integer_to_list(Limit), Exe | Routes] ++
        ["--delay-ms", float_to_list(DelayMs / 1, [{decimals, 3}, compact]),
         "--max-buffer-bytes", integer_to_list(Buffer), "--print-ports" | Cap],
    Port = open_port({spawn_executable, os:find_executable("timeout")},
                     [{args, Args}, {line, 1024}, exit_status, use_stdio, stderr_to_stdout, binary]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    record_pid(Env, {emulator, OsPid}),
    Relays = [read_route(Port) || _ <- Targets],
    {{Port, OsPid, emulator_pid(OsPid)}, Relays}.

%% The emulator is the child of `timeout'.
emulator_pid(TimeoutPid) ->
    P = integer_to_list(TimeoutPid),
    case file:read_file("/proc/" ++ P ++ "/task/" ++ P ++ "/children") of
        {ok, B} ->
            case string:lexemes(binary_to_list(B), " \n") of
                [C | _] -> list_to_integer(C);
                [] -> undefined
            end;
        _ -> undefined
    end.

read_route(Port) ->
    receive
        {Port, {data, {eol, Line}}} ->
            case string:split(binary_to_list(Line), "=") of
                [P, _Target] -> list_to_integer(P);
                _ -> erlang:error({emulator_output, Line})
            end;
        {Port, {exit_status, S}} -> erlang:error({emulator_exited, S})
    after 10000 -> erlang:error(emulator_no_ports)
    end.

stop_emulator({Port, OsPid, _}) ->
    _ = os:cmd("kill " ++ integer_to_list(OsPid)),
    receive {Port, {exit_status, _}} -> ok after 5000 -> catch port_close(Port) end,
    flush_port(Port).

flush_port(Port) ->
    receive {Port, _} -> flush_port(Port) after 0 -> ok end.

%%====================================================================
%% Helpers
%%====================================================================

%% @doc `N' ports free now on 127.0.0.1.
free_ports(N) ->
    Ls = [begin {ok, L} = gen_tcp:listen(0, [{ip, {127, 0, 0, 1}}]), L end || _ <- lists:seq(1, N)],
    Ports = [begin {ok, P} = inet:port(L), P end || L <- Ls],
    [gen_tcp:close(L) || L <- Ls],
    Ports.

%% @doc Notes an OS process in the pid file, for the driver's clean-up.
record_pid(#{pidfile := File}, {What, Pid}) when File =/= "" ->
    ok = file:write_file(File, io_lib:format("~s ~s~n", [What, to_list(Pid)]), [append]);
record_pid(_, _) -> ok.

to_list(I) when is_integer(I) -> integer_to_list(I);
to_list(S) -> S.

%%====================================================================
%% CPU accounting
%%====================================================================

%% @doc CPU time so far (ns, all threads) of each process of cluster `Tag'
%% and of the emulator: `[{Label, Ns}]'.
cpu_sample(#{clusters := Cs, emulator := {_, _, EmuPid}}, Tag) ->
    #{os_pids := Pids} = proplists:get_value(Tag, Cs),
    [{Label, cpu_ns(Pid)} || {Label, Pid} <- Pids] ++ [{emulator, cpu_ns(EmuPid)}].

%% @doc Per-process CPU between two samples, ns.
cpu_diff(Before, After) ->
    [{L, V - proplists:get_value(L, Before, 0)} || {L, V} <- After].

%% @doc CPU time of an OS process (all its threads) so far, ns.
cpu_ns(undefined) -> 0;
cpu_ns(Pid) ->
    Dir = "/proc/" ++ integer_to_list(Pid) ++ "/task",
    case file:list_dir(Dir) of
        {ok, Tids} ->
            lists:sum([case file:read_file(Dir ++ "/" ++ T ++ "/schedstat") of
                           {ok, B} -> list_to_integer(hd(string:lexemes(binary_to_list(B), " ")));
                           _ -> 0
                       end || T <- Tids]);
        _ -> 0
    end.
