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
%%   [SCALE_BEAMS=K] scale_run.escript CNODE TOPOLOGY N [SECONDS]
%%
%% TOPOLOGY: peer_to_peer | client_server (one server, N-1 clients) |
%% full_mesh. SECONDS bounds the run (default 600); a run that does not
%% converge in time reports how far it got.
%%
%% SCALE_BEAMS=K (default 0, at most N-1): K of the N nodes are real BEAM
%% nodes instead, spread over the join order (nodes N/K, 2N/K, ..., N):
%% each an OTP `peer' (connection standard_io, so no Distributed Erlang
%% with this runner or between them) running the partisan application
%% from _build/default/lib/partisan/ebin (beside this script's ../..), with
%% its own C-node (CNODE in normal mode, through PARTISAN_CNODE), the same
%% cluster secret, topology and timers as the standalone nodes. They join,
%% report views and members through the partisan API, count broadcast
%% deliveries in a process registered as `counter' (the name the console's
%% `broadcast' addresses), and send the odd-numbered broadcasts with
%% partisan:broadcast/2. Their delivery and RSS (beam.smp + C-node) are
%% reported apart in the line; the other columns count every C-node.
%% The BEAM nodes register with the epmd at ERL_EPMD_PORT (default 43690,
%% as the Makefile), ERL_EPMD_ADDRESS (default 127.0.0.1).
%%
%% SCALE_ANNOUNCE_MS (default 60000) and SCALE_LAZY_TICK_MS (default 200)
%% set every node's announce_interval and lazy_tick_period: each
%% announcement reaches every node, so their cost grows with N squared.
%%
%% SCALE_CATCH_UP_MS (default 5000, at most 30000): every node's
%% broadcast_catch_up, how far back a node that was cut off is told of the
%% broadcasts it missed when it links again.
%%
%% SCALE_BEAM_TIMEOUT_MS (default 30000): the BEAM nodes' beam_timeout, how
%% long a BEAM may leave its C-node's probes unanswered before the C-node
%% takes it as hung and drops every link (a starved BEAM on an overloaded
%% machine looks hung).
%%
%% SCALE_DELIVERY_S (default 60): how long after the first broadcast the
%% run waits for every node to have delivered all of them.
%%
%% SCALE_LINGER_S (default 0): after the report line, keep every node
%% running this many seconds more, printing the C-nodes' CPU time over
%% each 10 s (the steady state's cost, e.g. to profile one with perf).
%%
%% SCALE_BEAM_LOG_LEVEL (default error): the BEAM nodes' logger level and
%% their C-nodes' cnode_log_level (e.g. warning: why a BEAM node missed
%% a broadcast), written to stderr.
-mode(compile).

-define(BROADCASTS, 10).
-define(BEAM_CALL, 60000).  % bound of a call into a BEAM node, ms

main([CNode, Topology, NStr | Rest]) ->
    N = list_to_integer(NStr),
    K = list_to_integer(os:getenv("SCALE_BEAMS", "0")),
    (K >= 0 andalso K < N) orelse error({bad_scale_beams, K, N}),
    Limit = case Rest of [S] -> list_to_integer(S) * 1000; [] -> 600000 end,
    Deadline = now_ms() + Limit,
    rand:seed(exsss, {N, 7, 11}),
    T0 = now_ms(),
    Nodes = start_all(CNode, Topology, N, K),
    Started = now_ms() - T0,
    T1 = now_ms(),
    Joined = join_all(Topology, Nodes, Deadline),
    JoinMs = now_ms() - T1,
    io:format(standard_error, "started in ~b ms, joins sent in ~b ms~n", [Started, JoinMs]),
    Settled = settle(Topology, Nodes, Deadline),
    SettleMs = now_ms() - T1,
    Delivery = case Settled of
                   true -> broadcasts(Nodes, Deadline);
                   false -> skipped
               end,
    Usage = usage(Nodes),
    report(Topology, N, K, Started, Joined, JoinMs, Settled, SettleMs, Delivery, Usage),
    linger(Nodes, list_to_integer(os:getenv("SCALE_LINGER_S", "0"))),
    [catch port_close(P) || #{port := P} <- Nodes],
    [catch peer:stop(P) || #{peer := P} <- Nodes],
    halt(0);
main(_) ->
    io:format(standard_error, "usage: [SCALE_BEAMS=K] scale_run.escript CNODE TOPOLOGY N [SECONDS]~n", []),
    halt(2).

now_ms() -> erlang:monotonic_time(millisecond).

%%--------------------------------------------------------------------
%% C-nodes
%%--------------------------------------------------------------------

name(I) -> "s" ++ integer_to_list(I) ++ "@127.0.0.1".

%% The positions of the K BEAM nodes among 1..N, spread over the join
%% order (never node 1, the client-server server).
beam_positions(_, 0) -> [];
beam_positions(N, K) -> [(J * N + K - 1) div K || J <- lists:seq(1, K)].

start_all(CNode, Topology, N, K) ->
    Secret = "scale-run-secret-" ++ integer_to_list(N),
    Beams = beam_positions(N, K),
    Ctx = case K of 0 -> none; _ -> beam_context(CNode) end,
    %% The BEAM nodes boot (slow) while the C-nodes start.
    Nodes = [case lists:member(I, Beams) of
                 true -> start_beam_async(Ctx, Topology, I, Secret);
                 false -> start(CNode, Topology, I, Secret)
             end || I <- lists:seq(1, N)],
    [case Node of
         #{kind := beam} -> wait_beam(Node);
         _ -> wait_ready(Node)
     end || Node <- Nodes].

announce_ms() -> list_to_integer(os:getenv("SCALE_ANNOUNCE_MS", "60000")).
lazy_tick_ms() -> list_to_integer(os:getenv("SCALE_LAZY_TICK_MS", "200")).
catch_up_ms() -> list_to_integer(os:getenv("SCALE_CATCH_UP_MS", "5000")).
beam_timeout_ms() -> list_to_integer(os:getenv("SCALE_BEAM_TIMEOUT_MS", "30000")).
beam_log_level() -> os:getenv("SCALE_BEAM_LOG_LEVEL", "error").
delivery_wait_ms() -> 1000 * list_to_integer(os:getenv("SCALE_DELIVERY_S", "60")).

role(Topology, I) ->
    case {Topology, I} of {"client_server", 1} -> "server"; {"client_server", _} -> "client"; _ -> "server" end.

start(CNode, Topology, I, Secret) ->
    Role = role(Topology, I),
    Args = ["--mode", "standalone", "--beam-node", name(I), "--cnode-name", "c" ++ name(I),
            "--listen-port", "0", "--topology", Topology, "--role", Role,
            "--log-level", "error",
            %% Quieter than the defaults: 1,024 nodes share two cores.
            "--heartbeat-interval-ms", "5000", "--heartbeat-timeout-ms", "30000",
            "--gossip-interval-ms", "5000",
            "--announce-interval-ms", integer_to_list(announce_ms()),
            "--lazy-tick-period-ms", integer_to_list(lazy_tick_ms()),
            "--broadcast-catch-up-ms", integer_to_list(catch_up_ms()),
            "--max-members", "2048", "--max-pending-handshakes", "1024", "--max-pending-per-address", "1024"],
    Port = open_port({spawn_executable, CNode}, [{args, Args}, {line, 65536}, binary, use_stdio, exit_status]),
    Hex = fun(S) -> binary:encode_hex(list_to_binary(S)) end,
    port_command(Port, ["beam-cookie ", Hex("none"), "\ncluster-secret ", Hex(Secret), "\nend\n"]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    #{i => I, name => name(I), port => Port, os_pid => OsPid}.

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
    answer(Node, send_line(Port, Cmd), Timeout).

%% The console numbers its commands from 1 and answers `REPLY N Text'; the
%% number each port is at is kept here (only this process reads the
%% ports), so that the late answer of a command that timed out is not taken
%% for the next one's.
send_line(Port, Cmd) ->
    N = case get({seq, Port}) of undefined -> 1; Last -> Last + 1 end,
    put({seq, Port}, N),
    port_command(Port, [Cmd, "\n"]),
    N.

answer(#{port := Port} = Node, N, Timeout) ->
    receive
        {Port, {data, {eol, <<"REPLY ", Rest/binary>>}}} ->
            [M, Text] = binary:split(Rest, <<" ">>),
            case binary_to_integer(M) < N of
                true -> answer(Node, N, Timeout);  % a late answer to an earlier command
                false -> Text
            end;
        {Port, {data, {eol, _}}} -> answer(Node, N, Timeout);
        {Port, {exit_status, S}} -> {exited, S}
    after Timeout -> timeout
    end.

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
            F = case join(Node, Contact) of ok -> 0; _ -> 1 end,
            join_loop(Topology, Rest, In ++ [Node], Deadline, Failed + F)
    end.

join(#{kind := beam} = Node, #{name := CName, listen_port := CPort}) ->
    beam_call(Node, partisan, join, [{list_to_atom(CName), {127, 0, 0, 1}, CPort}]);
join(Node, #{name := CName, listen_port := CPort}) ->
    Cmd = io_lib:format("join ~s 127.0.0.1 ~b", [CName, CPort]),
    case command(Node, Cmd, 10000) of <<"ok">> -> ok; Other -> Other end.

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
    Views = [{list_to_binary(maps:get(name, N)), A} || {N, A} <- ask_all(Nodes, views)],
    Graph = maps:from_list(Views),
    Reached = reach([element(1, hd(Views))], Graph, #{element(1, hd(Views)) => true}),
    io:format(standard_error, "  connected: ~b of ~b~n", [map_size(Reached), length(Nodes)]),
    %% The first few outside, with their own active views.
    Outside = [V || {Name, _} = V <- Views, not maps:is_key(Name, Reached)],
    [io:format(standard_error, "    outside: ~s active ~p~n", [Name, Active])
     || {Name, Active} <- lists:sublist(Outside, 12)],
    map_size(Reached) =:= length(Nodes);
settled("client_server", Nodes) ->
    %% Every client sees the server; the server sees everyone.
    Counts = [C || {_, C} <- ask_all(Nodes, members)],
    [ServerCount | ClientCounts] = Counts,
    io:format(standard_error, "  server sees ~b of ~b~n", [ServerCount, length(Nodes)]),
    ServerCount =:= length(Nodes) andalso lists:all(fun(C) -> C >= 2 end, ClientCounts);
settled("full_mesh", Nodes) ->
    Counts = [C || {_, C} <- ask_all(Nodes, members)],
    io:format(standard_error, "  members: min ~b of ~b~n", [lists:min(Counts), length(Nodes)]),
    lists:min(Counts) =:= length(Nodes).

%% Asks every node at once (views: its active view as binaries; members:
%% how many; delivered: broadcast deliveries), then collects the answers.
ask_all(Nodes, What) ->
    Self = self(),
    Round = make_ref(),
    [case Node of
         #{kind := beam, i := I} ->
             spawn(fun() -> Self ! {Round, I, catch beam_ask(Node, What)} end);
         #{port := P} = N0 ->
             put({asked, maps:get(i, N0)}, send_line(P, atom_to_list(What)))
     end || Node <- Nodes],
    [{Node, collect(Node, What, Round)} || Node <- Nodes].

collect(#{kind := beam, i := I}, What, Round) ->
    receive
        {Round, I, {'EXIT', _} = Exit} -> io:format(standard_error, "  ~p: ~p~n", [What, Exit]), parse(What, failed);
        {Round, I, A} when What =:= delivered, not is_integer(A) -> parse(What, A);
        {Round, I, A} -> A
    after ?BEAM_CALL -> parse(What, timeout)
    end;
collect(#{i := I} = Node, What, _) ->
    parse(What, answer(Node, erase({asked, I}), 60000)).

parse(views, A) -> actives(A);
parse(members, A) -> count_members(A);
parse(delivered, A) -> delivered(A).

beam_ask(Node, views) ->
    #{active := Active} = beam_call(Node, partisan, views, []),
    [atom_to_binary(X) || X <- Active];
beam_ask(Node, members) ->
    length(beam_call(Node, partisan, members, []));
beam_ask(Node, delivered) ->
    beam_call(Node, scale_collector, count, []).

actives(Answer) when not is_binary(Answer) ->
    [];
actives(Answer) ->
    case re:run(Answer, "active => \\[([^]]*)\\]", [{capture, all_but_first, binary}]) of
        {match, [List]} -> [string:trim(X, both, " '") || X <- binary:split(List, <<",">>, [global]), X =/= <<>>];
        nomatch -> []
    end.

count_members(Answer) when not is_binary(Answer) ->
    0;
count_members(Answer) ->
    length(binary:matches(Answer, <<"@">>)).

reach([], _, Seen) ->
    Seen;
reach([N | Queue], Graph, Seen) ->
    Next = [X || X <- maps:get(N, Graph, []), not maps:is_key(X, Seen)],
    reach(Queue ++ Next, Graph, lists:foldl(fun(X, S) -> S#{X => true} end, Seen, Next)).

%% Broadcasts from random nodes (with BEAM nodes: the odd-numbered ones
%% from a random BEAM node, the others from a random standalone node);
%% every node must deliver each once.
broadcasts(Nodes, Deadline) ->
    Pick = fun(L) -> lists:nth(rand:uniform(length(L)), L) end,
    Senders = case [B || #{kind := beam} = B <- Nodes] of
                  [] ->
                      [Pick(Nodes) || _ <- lists:seq(1, ?BROADCASTS)];
                  Beams ->
                      Standalone = [S || S <- Nodes, not is_beam(S)],
                      [case K rem 2 of 1 -> Pick(Beams); 0 -> Pick(Standalone) end
                       || K <- lists:seq(1, ?BROADCASTS)]
              end,
    T0 = now_ms(),
    %% Not retried: an answer late on an overloaded machine (a shim's
    %% control call timing out) may still have been sent; the delivery
    %% count says.
    Refused = [{maps:get(name, S), K, R}
               || {S, K} <- lists:zip(Senders, lists:seq(1, ?BROADCASTS)),
                  (R = catch broadcast(S, K)) =/= ok],
    [io:format(standard_error, "  broadcast ~b from ~s: ~p~n", [K, Name, R]) || {Name, K, R} <- Refused],
    (wait_delivered(Nodes, T0, Deadline))#{from_beams => length([S || S <- Senders, is_beam(S)]),
                                           not_ok => length(Refused)}.

is_beam(Node) -> maps:get(kind, Node, cnode) =:= beam.

broadcast(#{kind := beam} = Node, K) ->
    beam_call(Node, partisan, broadcast, [counter, K]);
broadcast(Node, K) ->
    case command(Node, io_lib:format("broadcast ~b", [K]), 10000) of <<"ok">> -> ok; Other -> Other end.

wait_delivered(Nodes, T0, Deadline) ->
    Answers = ask_all(Nodes, delivered),
    Counts = [{is_beam(N), C} || {N, C} <- Answers],
    Short = [io_lib:format("~s ~b", [maps:get(name, N), C]) || {N, C} <- Answers, C =/= ?BROADCASTS],
    io:format(standard_error, "  delivered: ~b nodes short of ~b (~s)~n",
              [length(Short), ?BROADCASTS, lists:join(", ", lists:sublist(Short, 8))]),
    Full = length([C || {_, C} <- Counts, C =:= ?BROADCASTS]),
    Over = length([C || {_, C} <- Counts, C > ?BROADCASTS]),
    BeamFull = length([C || {true, C} <- Counts, C =:= ?BROADCASTS]),
    case Full =:= length(Nodes) orelse now_ms() > Deadline orelse now_ms() - T0 > delivery_wait_ms() of
        true -> #{nodes_all => Full, duplicates => Over, ms => now_ms() - T0, beams_all => BeamFull};
        false -> timer:sleep(1000), wait_delivered(Nodes, T0, Deadline)
    end.

delivered(Answer) when not is_binary(Answer) ->
    -1;
delivered(Answer) ->
    case re:run(Answer, "\\{ok,([0-9]+)\\}", [{capture, all_but_first, list}]) of
        {match, [C]} -> list_to_integer(C);
        nomatch -> -1
    end.

%%--------------------------------------------------------------------
%% Resources
%%--------------------------------------------------------------------

%% The steady state: C-node CPU seconds spent in each 10 s while nothing
%% is asked of the nodes.
linger(_Nodes, Seconds) when Seconds =< 0 ->
    ok;
linger(Nodes, Seconds) ->
    Cpu = fun() -> lists:sum([C || #{cpu_s := C} <- [proc(P) || #{os_pid := P} <- Nodes]]) end,
    Before = Cpu(),
    timer:sleep(10000),
    io:format(standard_error, "  steady state: ~.2f CPU s in 10 s over ~b C-nodes~n", [Cpu() - Before, length(Nodes)]),
    linger(Nodes, Seconds - 10).

%% Every C-node (the BEAM nodes' too); and apart, each BEAM node's
%% beam.smp and C-node together.
usage(Nodes) ->
    Per = [proc(P) || #{os_pid := P} <- Nodes],
    Alive = [X || X <- Per, X =/= gone],
    Beams = [{proc(B), proc(C)} || #{kind := beam, beam_os_pid := B, os_pid := C} <- Nodes],
    BeamsAlive = [{B, C} || {B, C} <- Beams, B =/= gone, C =/= gone],
    #{alive => length(Alive),
      rss_kb => stats([R || #{rss_kb := R} <- Alive]),
      fds => stats([F || #{fds := F} <- Alive]),
      cpu_s => lists:sum([C || #{cpu_s := C} <- Alive]),
      beams_alive => length(BeamsAlive),
      beam_rss_kb => stats([RB + RC || {#{rss_kb := RB}, #{rss_kb := RC}} <- BeamsAlive]),
      beam_cpu_s => lists:sum([C || {#{cpu_s := C}, _} <- BeamsAlive])}.

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

%% With BEAM nodes (K > 0) the same columns, with the BEAM nodes' part
%% added in the nodes, delivery, alive, RSS and CPU cells.
report(Topology, N, K, StartMs, Joined, JoinMs, Settled, SettleMs, Delivery, Usage) ->
    #{alive := Alive, rss_kb := {RMin, RAvg, RMax}, fds := {FMin, FAvg, FMax}, cpu_s := Cpu} = Usage,
    Beams = fun(_, _) when K =:= 0 -> ""; (Fmt, Args) -> io_lib:format(Fmt, Args) end,
    D = case Delivery of
            skipped -> "not run";
            #{nodes_all := All, duplicates := Dup, ms := Ms} = Del ->
                io_lib:format("~b/~b nodes got all ~b (~.1f%~s), ~b with duplicates, ~b ms~s~s",
                              [All, N, ?BROADCASTS, 100 * All / N,
                               Beams("; BEAM ~b/~b", [maps:get(beams_all, Del, 0), K]), Dup, Ms,
                               Beams("; ~b of the ~b sent from BEAM nodes",
                                     [maps:get(from_beams, Del, 0), ?BROADCASTS]),
                               case maps:get(not_ok, Del, 0) of
                                   0 -> "";
                                   NotOk -> io_lib:format("; ~b sends not answered ok", [NotOk])
                               end])
        end,
    {BMin, BAvg, BMax} = maps:get(beam_rss_kb, Usage, {0, 0, 0}),
    io:format("| ~s | ~b~s | ~b ms | ~s in ~b ms | ~s (~b ms) | ~s | ~b~s | ~b/~b/~b~s | ~b/~b/~b | ~.1f~s |~n",
              [Topology, N, Beams(" (~b BEAM)", [K]), StartMs, yes_no(Joined), JoinMs,
               yes_no(Settled), SettleMs, D, Alive,
               Beams(" (BEAM nodes ~b/~b)", [maps:get(beams_alive, Usage, 0), K]),
               RMin div 1024, RAvg div 1024, RMax div 1024,
               Beams("; BEAM nodes (beam.smp + C-node) ~b/~b/~b", [BMin div 1024, BAvg div 1024, BMax div 1024]),
               FMin, FAvg, FMax, Cpu,
               Beams(" (+ beam.smp ~.1f)", [maps:get(beam_cpu_s, Usage, 0)])]).

yes_no(true) -> "yes";
yes_no(false) -> "no".

%%--------------------------------------------------------------------
%% BEAM nodes
%%--------------------------------------------------------------------

%% What starting BEAM nodes needs: the partisan ebin, the C-node binary
%% (the standalone nodes' own, given to the shim as PARTISAN_CNODE), a
%% BEAM cookie (for the link between each BEAM and its own C-node only)
%% and the collector.
beam_context(CNode) ->
    Root = filename:dirname(filename:dirname(filename:dirname(filename:absname(escript:script_name())))),
    Ebin = filename:join(Root, "_build/default/lib/partisan/ebin"),
    filelib:is_regular(filename:join(Ebin, "partisan.app"))
        orelse error({no_partisan_ebin, Ebin, "run rebar3 compile"}),
    #{ebin => Ebin,
      cnode => filename:absname(CNode),
      cookie => "scale_run_" ++ os:getpid() ++ "_" ++ integer_to_list(erlang:unique_integer([positive])),
      collector => collector_module()}.

%% The process registered as `counter' on a BEAM node: counts the
%% broadcast tags (integers) delivered to it, as a standalone node counts
%% its deliveries.
collector_module() ->
    Src = ["-module(scale_collector).",
           "-export([start/0, loop/1, count/0]).",
           "start() -> true = register(counter, spawn(scale_collector, loop, [0])), ok.",
           "loop(N) -> receive {count, From, Ref} -> From ! {Ref, N}, scale_collector:loop(N);"
           "  Tag when is_integer(Tag) -> scale_collector:loop(N + 1); _ -> scale_collector:loop(N) end.",
           "count() -> Ref = make_ref(), counter ! {count, self(), Ref},"
           "  receive {Ref, N} -> N after 30000 -> timeout end."],
    Forms = [begin {ok, Ts, _} = erl_scan:string(F), {ok, Form} = erl_parse:parse_form(Ts), Form end
             || F <- Src],
    {ok, scale_collector, Bin} = compile:forms(Forms, [binary]),
    Bin.

beam_name(I) -> "b" ++ integer_to_list(I) ++ "_" ++ os:getpid().

%% Starts a BEAM node in a process of its own; wait_beam/1 takes the result.
start_beam_async(Ctx, Topology, I, Secret) ->
    Self = self(),
    Ref = make_ref(),
    spawn(fun() -> Self ! {Ref, catch start_beam(Ctx, Topology, I, Secret)} end),
    #{kind => beam, i => I, ref => Ref}.

wait_beam(#{ref := Ref, i := I}) ->
    receive
        {Ref, #{} = Node} -> Node;
        {Ref, Error} -> error({beam_start_failed, I, Error})
    after 300000 -> error({beam_not_started, I})
    end.

start_beam(#{ebin := Ebin, cnode := CNode, cookie := Cookie, collector := Collector}, Topology, I, Secret) ->
    Args = ["-setcookie", Cookie,
            "-kernel", "inet_dist_use_interface", "{127,0,0,1}",
            "-kernel", "dist_auto_connect", "never",
            %% The peer's standard_io is its connection to this runner,
            %% whose stdout is the report: logs go to stderr.
            "-kernel", "logger_level", beam_log_level(),
            "-kernel", "logger", "[{handler,default,logger_std_h,#{config => #{type => standard_error}}}]",
            %% No busy waiting: many BEAMs and C-nodes share two cores.
            "+sbwt", "none", "+sbwtdcpu", "none", "+sbwtdio", "none",
            "-pa", Ebin],
    Env = [{"PARTISAN_CNODE", CNode},
           {"ERL_EPMD_PORT", os:getenv("ERL_EPMD_PORT", "43690")},
           {"ERL_EPMD_ADDRESS", os:getenv("ERL_EPMD_ADDRESS", "127.0.0.1")}],
    {ok, Peer, Node} = peer:start(#{name => beam_name(I), host => "127.0.0.1", longnames => true,
                                    connection => standard_io, args => Args, env => Env,
                                    wait_boot => 120000}),
    N0 = #{kind => beam, i => I, name => atom_to_list(Node), peer => Peer},
    {module, scale_collector} = beam_call(N0, code, load_binary,
                                          [scale_collector, "scale_collector.erl", Collector]),
    ok = beam_call(N0, application, load, [partisan]),
    %% As the standalone nodes' command line (start/4).
    AppEnv = [{cookie, list_to_binary(Secret)},
              {topology, list_to_atom(Topology)},
              {role, list_to_atom(role(Topology, I))},
              {cnode_log_level, list_to_atom(beam_log_level())},
              {heartbeat_interval, 5000}, {heartbeat_timeout, 30000},
              {gossip_interval, 5000}, {announce_interval, announce_ms()},
              {lazy_tick_period, lazy_tick_ms()}, {broadcast_catch_up, catch_up_ms()},
              {max_members, 2048}, {max_pending_handshakes, 1024}, {max_pending_per_address, 1024},
              %% The BEAM is probed by its C-node: on a loaded machine, as
              %% patient as the heartbeats.
              {beam_timeout, beam_timeout_ms()}, {ready_timeout, 60000}],
    [ok = beam_call(N0, application, set_env, [partisan, Key, Value]) || {Key, Value} <- AppEnv],
    {ok, _} = beam_call(N0, application, ensure_all_started, [partisan]),
    ok = beam_call(N0, scale_collector, start, []),
    #{os_pid := CNodePid, listen_addrs := [#{port := ListenPort} | _]} = beam_call(N0, partisan, status, []),
    BeamPid = list_to_integer(beam_call(N0, os, getpid, [])),
    N0#{os_pid => CNodePid, beam_os_pid => BeamPid, listen_port => ListenPort}.

beam_call(#{peer := Peer}, M, F, A) ->
    peer:call(Peer, M, F, A, ?BEAM_CALL).
