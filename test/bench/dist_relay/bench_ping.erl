%% @doc Ping-pong between two distributed nodes, for checking (and
%% benchmarking) a link: `serve/0' on the far node registers an echo
%% process; `rtts/2' on the near node measures round trips to it.
%% `check/1' is what check.sh runs on the near node.
-module(bench_ping).

-export([serve/0, connect/2, rtts/2, dist_port/1, check/1]).

-define(ECHO, bench_ping_echo).

%% @doc Registers the echo process (it outlives the caller).
serve() ->
    Pid = spawn(fun echo/0),
    true = register(?ECHO, Pid),
    ok.

echo() ->
    receive
        {From, Ref} ->
            From ! Ref,
            echo()
    end.

%% @doc Connects to `Node' and waits for its echo, retrying until `TimeoutMs'.
connect(Node, TimeoutMs) ->
    connect(Node, erlang:monotonic_time(millisecond) + TimeoutMs, undefined).

connect(Node, Deadline, _Last) ->
    Result = case net_kernel:connect_node(Node) of
                 true ->
                     case rpc:call(Node, erlang, whereis, [?ECHO]) of
                         Pid when is_pid(Pid) -> ok;
                         Other -> {no_echo, Other}
                     end;
                 Other -> {connect, Other}
             end,
    case Result of
        ok -> ok;
        Why ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> {error, Why};
                false -> timer:sleep(100), connect(Node, Deadline, Why)
            end
    end.

%% @doc `N' round trips of a small message to `Node''s echo, in microseconds.
rtts(Node, N) -> [rtt(Node) || _ <- lists:seq(1, N)].

rtt(Node) ->
    Ref = make_ref(),
    T0 = erlang:monotonic_time(microsecond),
    {?ECHO, Node} ! {self(), Ref},
    receive
        Ref -> erlang:monotonic_time(microsecond) - T0
    after 5000 -> erlang:error({no_reply, Node})
    end.

%% @doc The remote port of the distribution connection to `Node'.
dist_port(Node) ->
    {ok, Info} = net_kernel:node_info(Node),
    {address, NetAddress} = lists:keyfind(address, 1, Info),
    {_Ip, Port} = element(2, NetAddress),  % #net_address.address
    Port.

%% @doc For check.sh. Args (strings): the alive name of the node reached
%% through the emulator, the emulator's port, the one-way delay in ms, and
%% the alive name of a node reached directly (bench_epmd's fallback).
%% Halts with 0 when every check passes, 1 otherwise (2 on a crash).
check(Args) ->
    try run_checks(Args) of
        Status -> halt(Status)
    catch
        Class:Reason:Stack ->
            io:format("dist_relay check: CRASH ~p:~p~n~p~n", [Class, Reason, Stack]),
            halt(2)
    end.

run_checks([RelayedName, EmuPortS, DelayMsS, DirectName]) ->
    [_, Host] = string:split(atom_to_list(node()), "@"),
    Relayed = list_to_atom(RelayedName ++ "@" ++ Host),
    Direct = list_to_atom(DirectName ++ "@" ++ Host),
    EmuPort = list_to_integer(EmuPortS),
    DelayMs = list_to_integer(DelayMsS),
    Checks =
        [check_node(Relayed, "through the emulator",
                    fun(Port, Rtts) ->
                            [{"connection goes to the emulator port", Port =:= EmuPort},
                             {"min RTT >= 2 x delay", lists:min(Rtts) >= 2 * DelayMs * 1000},
                             {"median RTT < 2 x delay + 30 ms", median(Rtts) < (2 * DelayMs + 30) * 1000}]
                    end),
         check_node(Direct, "direct (fallback to erl_epmd)",
                    fun(Port, Rtts) ->
                            [{"connection does not go to the emulator", Port =/= EmuPort},
                             {"median RTT < 5 ms", median(Rtts) < 5000}]
                    end)],
    Failed = [C || {C, false} <- lists:append(Checks)],
    io:format("~s~n", [case Failed of [] -> "dist_relay check: PASS"; _ -> "dist_relay check: FAIL" end]),
    case Failed of [] -> 0; _ -> 1 end.

check_node(Node, Label, Checks) ->
    case connect(Node, 20000) of
        ok ->
            _ = rtts(Node, 3),  % warm-up
            Rtts = rtts(Node, 20),
            Port = dist_port(Node),
            io:format("~s: ~s via port ~b, RTT min ~.2f ms, median ~.2f ms, max ~.2f ms~n",
                      [Label, Node, Port, lists:min(Rtts) / 1000, median(Rtts) / 1000,
                       lists:max(Rtts) / 1000]),
            Results = Checks(Port, Rtts),
            [io:format("  ~s: ~s~n", [What, case Ok of true -> "ok"; false -> "FAILED" end])
             || {What, Ok} <- Results],
            Results;
        {error, Why} ->
            io:format("~s: cannot reach ~s: ~p~n", [Label, Node, Why]),
            [{"connect to " ++ atom_to_list(Node), false}]
    end.

median(L) -> lists:nth((length(L) + 1) div 2, lists:sort(L)).
