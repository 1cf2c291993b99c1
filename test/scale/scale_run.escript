#!/usr/bin/env escript
%% -*- erlang -*-
%%! +P 1000000 +Q 65536 -noinput
%%
%% Scale run (not a test; `make scale`): N C-nodes in standalone mode
%% (`--mode standalone`: no BEAM beside them, commands on stdin, local
%% deliveries counted) on this machine, in one topology. Each node joins a
%% random node that joined before it; then the run checks the overlay is
%% connected (from the nodes' own views), sends broadcasts and checks every
%% node delivered each once, and reads RSS, descriptors and CPU of every
%% C-node from /proc. One markdown line per run on stdout.
%%
%%   scale_run.escript CNODE TOPOLOGY N [SECONDS]
%%
%% TOPOLOGY: peer_to_peer | client_server (one server, N-1 clients) |
%% full_mesh. SECONDS bounds the run (default 600); a run that does not
%% converge in time reports how far it got.
-mode(compile).

-define(BROADCASTS, 10).

main([CNode, Topology, NStr | Rest]) ->
    N = list_to_integer(NStr),
    Limit = case Rest of [S] -> list_to_integer(S) * 1000; [] -> 600000 end,
    Deadline = now_ms() + Limit,
    rand:seed(exsss, {N, 7, 11}),
    T0 = now_ms(),
    Nodes = start_all(CNode, Topology, N),
    Started = now_ms() - T0,
    T1 = now_ms(),
    Joined = join_all(Topology, Nodes, Deadline),
    JoinMs = now_ms() - T1,
    Settled = settle(Topology, Nodes, Deadline),
    SettleMs = now_ms() - T1,
    Delivery = case Settled of
                   true -> broadcasts(Nodes, Deadline);
                   false -> skipped
               end,
    Usage = usage(Nodes),
    report(Topology, N, Started, Joined, JoinMs, Settled, SettleMs, Delivery, Usage),
    [catch port_close(P) || #{port := P} <- Nodes],
    halt(0);
main(_) ->
    io:format(standard_error, "usage: scale_run.escript CNODE TOPOLOGY N [SECONDS]~n", []),
    halt(2).

now_ms() -> erlang:monotonic_time(millisecond).

%%--------------------------------------------------------------------
%% C-nodes
%%--------------------------------------------------------------------

name(I) -> "s" ++ integer_to_list(I) ++ "@127.0.0.1".

start_all(CNode, Topology, N) ->
    Secret = "scale-run-secret-" ++ integer_to_list(N),
    Nodes = [start(CNode, Topology, I, Secret) || I <- lists:seq(1, N)],
    [wait_ready(Node) || Node <- Nodes].

start(CNode, Topology, I, Secret) ->
    Role = case {Topology, I} of {"client_server", 1} -> "server"; {"client_server", _} -> "client"; _ -> "server" end,
    Args = ["--mode", "standalone", "--beam-node", name(I), "--cnode-name", "c" ++ name(I),
            "--listen-port", "0", "--topology", Topology, "--role", Role,
            "--log-level", "error",
            %% Quieter than the defaults: 1,024 nodes share two cores.
            "--heartbeat-interval-ms", "5000", "--heartbeat-timeout-ms", "30000",
            "--gossip-interval-ms", "5000", "--announce-interval-ms", "60000",
            "--max-members", "2048", "--max-pending-handshakes", "1024", "--max-pending-per-address", "1024"],
    Port = open_port({spawn_executable, CNode}, [{args, Args}, {line, 65536}, binary, use_stdio, exit_status]),
    Hex = fun(S) -> binary:encode_hex(list_to_binary(S)) end,
    port_command(Port, ["beam-cookie ", Hex("none"), "\ncluster-secret ", Hex(Secret), "\nend\n"]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    #{i => I, name => name(I), port => Port, os_pid => OsPid, seq => 0}.

wait_ready(#{port := Port} = Node) ->
    receive
        {Port, {data, {eol, <<"READY ", Ready/binary>>}}} ->
            [_Name, _Ip, ListenPort] = binary:split(Ready, <<" ">>, [global]),
            Node#{listen_port => binary_to_integer(ListenPort)};
        {Port, {data, {eol, _Other}}} -> wait_ready(Node);
        {Port, {exit_status, S}} -> error({cnode_exited, maps:get(name, Node), S})
    after 30000 -> error({not_ready, maps:get(name, Node)})
    end.

%% Sends a command and waits for its answer line.
command(#{port := Port} = Node, Cmd, Timeout) ->
    port_command(Port, [Cmd, "\n"]),
    answer(Node, Timeout).

answer(#{port := Port} = Node, Timeout) ->
    receive
        {Port, {data, {eol, <<"REPLY ", Rest/binary>>}}} ->
            [_, Text] = binary:split(Rest, <<" ">>),
            Text;
        {Port, {data, {eol, _}}} -> answer(Node, Timeout);
        {Port, {exit_status, S}} -> {exited, S}
    after Timeout -> timeout
    end.

%% Sends a command to many nodes at once, then collects the answers.
command_all(Nodes, Cmd) ->
    [port_command(P, [Cmd, "\n"]) || #{port := P} <- Nodes],
    [{Node, answer(Node, 60000)} || Node <- Nodes].

%%--------------------------------------------------------------------
%% Phases
%%--------------------------------------------------------------------

%% Node i joins a random node before it (client-server: the server).
join_all(Topology, [First | Rest], Deadline) ->
    join_loop(Topology, Rest, [First], Deadline, 0).

join_loop(_, [], _, _, Failed) ->
    Failed =:= 0;
join_loop(Topology, [Node | Rest], In, Deadline, Failed) ->
    case now_ms() > Deadline of
        true ->
            false;
        false ->
            Contact = case Topology of
                          "client_server" -> lists:last(In);
                          _ -> lists:nth(rand:uniform(length(In)), In)
                      end,
            #{name := CName, listen_port := CPort} = Contact,
            Cmd = io_lib:format("join ~s 127.0.0.1 ~b", [CName, CPort]),
            F = case command(Node, Cmd, 10000) of <<"ok">> -> 0; _ -> 1 end,
            join_loop(Topology, Rest, In ++ [Node], Deadline, Failed + F)
    end.

%% Waits until the overlay is connected (peer_to_peer: the active views
%% as the nodes report them) or every node sees every member (the others).
settle(Topology, Nodes, Deadline) ->
    case settled(Topology, Nodes) of
        true -> true;
        false ->
            case now_ms() > Deadline of
                true -> false;
                false -> timer:sleep(2000), settle(Topology, Nodes, Deadline)
            end
    end.

settled("peer_to_peer", Nodes) ->
    Views = [{list_to_binary(maps:get(name, N)), actives(A)} || {N, A} <- command_all(Nodes, "views")],
    Graph = maps:from_list(Views),
    Reached = reach([element(1, hd(Views))], Graph, #{element(1, hd(Views)) => true}),
    io:format(standard_error, "  connected: ~b of ~b~n", [map_size(Reached), length(Nodes)]),
    map_size(Reached) =:= length(Nodes);
settled("client_server", Nodes) ->
    %% Every client sees the server; the server sees everyone.
    Counts = [count_members(A) || {_, A} <- command_all(Nodes, "members")],
    [ServerCount | ClientCounts] = Counts,
    io:format(standard_error, "  server sees ~b of ~b~n", [ServerCount, length(Nodes)]),
    ServerCount =:= length(Nodes) andalso lists:all(fun(C) -> C >= 2 end, ClientCounts);
settled("full_mesh", Nodes) ->
    Counts = [count_members(A) || {_, A} <- command_all(Nodes, "members")],
    io:format(standard_error, "  members: min ~b of ~b~n", [lists:min(Counts), length(Nodes)]),
    lists:min(Counts) =:= length(Nodes).

actives(Answer) ->
    case re:run(Answer, "active => \\[([^]]*)\\]", [{capture, all_but_first, binary}]) of
        {match, [List]} -> [string:trim(X, both, " '") || X <- binary:split(List, <<",">>, [global]), X =/= <<>>];
        nomatch -> []
    end.

count_members(Answer) ->
    length(binary:matches(Answer, <<"@">>)).

reach([], _, Seen) ->
    Seen;
reach([N | Queue], Graph, Seen) ->
    Next = [X || X <- maps:get(N, Graph, []), not maps:is_key(X, Seen)],
    reach(Queue ++ Next, Graph, lists:foldl(fun(X, S) -> S#{X => true} end, Seen, Next)).

%% Broadcasts from random nodes; every node must deliver each once.
broadcasts(Nodes, Deadline) ->
    Senders = [lists:nth(rand:uniform(length(Nodes)), Nodes) || _ <- lists:seq(1, ?BROADCASTS)],
    T0 = now_ms(),
    [<<"ok">> = command(S, io_lib:format("broadcast ~b", [K]), 10000) || {S, K} <- lists:zip(Senders, lists:seq(1, ?BROADCASTS))],
    wait_delivered(Nodes, T0, Deadline).

wait_delivered(Nodes, T0, Deadline) ->
    Counts = [delivered(A) || {_, A} <- command_all(Nodes, "delivered")],
    Full = length([C || C <- Counts, C =:= ?BROADCASTS]),
    Over = length([C || C <- Counts, C > ?BROADCASTS]),
    case Full =:= length(Nodes) orelse now_ms() > Deadline orelse now_ms() - T0 > 60000 of
        true -> #{nodes_all => Full, duplicates => Over, ms => now_ms() - T0};
        false -> timer:sleep(1000), wait_delivered(Nodes, T0, Deadline)
    end.

delivered(Answer) ->
    case re:run(Answer, "\\{ok,([0-9]+)\\}", [{capture, all_but_first, list}]) of
        {match, [C]} -> list_to_integer(C);
        nomatch -> -1
    end.

%%--------------------------------------------------------------------
%% Resources
%%--------------------------------------------------------------------

usage(Nodes) ->
    Per = [proc(P) || #{os_pid := P} <- Nodes],
    Alive = [X || X <- Per, X =/= gone],
    #{alive => length(Alive),
      rss_kb => stats([R || #{rss_kb := R} <- Alive]),
      fds => stats([F || #{fds := F} <- Alive]),
      cpu_s => lists:sum([C || #{cpu_s := C} <- Alive])}.

proc(Pid) ->
    P = "/proc/" ++ integer_to_list(Pid),
    case file:read_file(P ++ "/status") of
        {ok, Status} ->
            {match, [Rss]} = re:run(Status, "VmRSS:\\s+([0-9]+)", [{capture, all_but_first, list}]),
            {ok, Fds} = file:list_dir(P ++ "/fd"),
            {ok, Stat} = file:read_file(P ++ "/stat"),
            [_, After] = binary:split(Stat, <<") ">>),
            Fields = binary:split(After, <<" ">>, [global]),
            Ticks = binary_to_integer(lists:nth(12, Fields)) + binary_to_integer(lists:nth(13, Fields)),
            #{rss_kb => list_to_integer(Rss), fds => length(Fds), cpu_s => Ticks / 100};
        _ ->
            gone
    end.

stats([]) -> {0, 0, 0};
stats(L) -> {lists:min(L), lists:sum(L) div length(L), lists:max(L)}.

report(Topology, N, StartMs, Joined, JoinMs, Settled, SettleMs, Delivery, Usage) ->
    #{alive := Alive, rss_kb := {RMin, RAvg, RMax}, fds := {FMin, FAvg, FMax}, cpu_s := Cpu} = Usage,
    D = case Delivery of
            skipped -> "not run";
            #{nodes_all := All, duplicates := Dup, ms := Ms} ->
                io_lib:format("~b/~b nodes got all ~b (~.1f%), ~b with duplicates, ~b ms",
                              [All, N, ?BROADCASTS, 100 * All / N, Dup, Ms])
        end,
    io:format("| ~s | ~b | ~b ms | ~s in ~b ms | ~s (~b ms) | ~s | ~b | ~b/~b/~b | ~b/~b/~b | ~.1f |~n",
              [Topology, N, StartMs, yes_no(Joined), JoinMs, yes_no(Settled), SettleMs, D, Alive,
               RMin div 1024, RAvg div 1024, RMax div 1024, FMin, FAvg, FMax, Cpu]).

yes_no(true) -> "yes";
yes_no(false) -> "no".
