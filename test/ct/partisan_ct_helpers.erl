%% Helpers shared by the common_test suites of partisan: starting BEAM
%% peers (OTP `peer', connection standard_io, so no Distributed Erlang
%% between them or with the test node) that run partisan, calling them,
%% bounded waits, OS process checks.
-module(partisan_ct_helpers).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([init_suite/1,
         start_node/3,
         start_node/4,
         start_peer/2,
         start_peer/3,
         start_peer/4,
         start_partisan/2,
         stop_nodes/1,
         call/4,
         call/5,
         node_name/1,
         names/1,
         form_cluster/1,
         wait_members/2,
         wait_until/4,
         join_random/2,
         collector_start/1,
         collector_get/1,
         active_views/1,
         reachable/2,
         os_pid_alive/1,
         wait_os_pid_gone/2]).

-define(WAIT, 15000).          % bound of the membership wait, ms
-define(CALL_TIMEOUT, 30000).  % peer:call timeout, ms

%% Checks the C-node binary is there and adds what start_node/3 needs to
%% Config: the code paths for the peers, a scratch HOME, a cookie.
-spec init_suite(list()) -> list() | {fail, string()}.
init_suite(Config) ->
    {ok, _} = application:ensure_all_started(crypto),
    _ = application:load(partisan),
    PrivDir = code:priv_dir(partisan),
    CNode = filename:join(PrivDir, "partisan_cnode"),
    case filelib:is_regular(CNode) of
        false ->
            {fail, lists:flatten(io_lib:format("no C-node binary at ~ts: run `make cnode`",
                                               [CNode]))};
        true ->
            ct:log("C-node binary: ~ts~nERL_EPMD_PORT=~p ERL_EPMD_ADDRESS=~p",
                   [CNode, os:getenv("ERL_EPMD_PORT"), os:getenv("ERL_EPMD_ADDRESS")]),
            %% The test modules (suites, partisan_test_server, this one) are
            %% compiled into one directory.
            Ebins = lists:usort([filename:dirname(code:which(M))
                                 || M <- [partisan, partisan_test_server, ?MODULE]]),
            Home = filename:join(?config(priv_dir, Config), "home"),
            ok = filelib:ensure_dir(filename:join(Home, "x")),
            Cookie = "partisan_ct_" ++ integer_to_list(erlang:unique_integer([positive]))
                ++ "_" ++ os:getpid(),
            [{ebins, Ebins}, {home, Home}, {cookie, Cookie} | Config]
    end.

%% Starts a peer named <Short>_<os pid>_<unique> running partisan (with
%% the partisan env BaseEnv, overridden by Env) and the test server.
%% Returns #{name, peer, node, os_pid, cnode, cnode_os_pid, links}.
-spec start_node(atom() | {atom(), [{atom(), term()}]}, [{atom(), term()}], list()) -> map().
start_node({Short, Env}, BaseEnv, Config) ->
    N0 = start_peer(Short, Config),
    start_partisan(N0, lists:ukeymerge(1, lists:ukeysort(1, Env), lists:ukeysort(1, BaseEnv)));
start_node(Short, BaseEnv, Config) ->
    start_node({Short, []}, BaseEnv, Config).

%% As start_node/3, with extra options for peer:start/1 (e.g. `exec').
-spec start_node(atom(), [{atom(), term()}], map(), list()) -> map().
start_node(Short, Env, PeerOpts, Config) ->
    Name = list_to_atom(atom_to_list(Short) ++ "_" ++ os:getpid() ++ "_"
                        ++ integer_to_list(erlang:unique_integer([positive]))),
    start_partisan(start_peer(Short, Name, Config, PeerOpts), Env).

%% Starts a peer named <Short>_<os pid>_<unique> with partisan loaded,
%% not started (so that its node name is known before its partisan
%% configuration is set). Returns #{name, peer, node}.
-spec start_peer(atom(), list()) -> map().
start_peer(Short, Config) ->
    Name = list_to_atom(atom_to_list(Short) ++ "_" ++ os:getpid() ++ "_"
                        ++ integer_to_list(erlang:unique_integer([positive]))),
    start_peer(Short, Name, Config).

%% As start_peer/2 with the given name (the part before the @), e.g. to
%% start a node again under the name of one that was stopped.
-spec start_peer(atom(), atom(), list()) -> map().
start_peer(Short, Name, Config) ->
    start_peer(Short, Name, Config, #{}).

-spec start_peer(atom(), atom(), list(), map()) -> map().
start_peer(Short, Name, Config, PeerOpts) ->
    LogLevel = os:getenv("PARTISAN_CT_LOG_LEVEL", "notice"),
    Args = ["-setcookie", ?config(cookie, Config),
            "-kernel", "inet_dist_use_interface", "{127,0,0,1}",
            "-kernel", "dist_auto_connect", "never",
            "-kernel", "logger_level", LogLevel,
            "-pa" | ?config(ebins, Config)],
    {ok, Peer, Node} = peer:start(maps:merge(#{name => Name,
                                               connection => standard_io,
                                               args => Args,
                                               env => [{"HOME", ?config(home, Config)}],
                                               wait_boot => 30000}, PeerOpts)),
    N0 = #{name => Short, peer => Peer, node => Node},
    ok = call(N0, application, load, [partisan]),
    N0.

%% Sets the partisan env Env on a peer from start_peer/2, starts partisan
%% and the test server. Returns the peer's map with os_pid, cnode,
%% cnode_os_pid and links added.
-spec start_partisan(map(), [{atom(), term()}]) -> map().
start_partisan(#{name := Short, node := Node} = N0, Env) ->
    [ok = call(N0, application, set_env, [partisan, K, V]) || {K, V} <- Env],
    case call(N0, application, ensure_all_started, [partisan]) of
        {ok, _} -> ok;
        Error -> ct:fail({partisan_start_failed, Node, Error})
    end,
    {ok, _} = call(N0, partisan_test_server, start, []),
    #{os_pid := CNodePid, cnode := CNode, links := Links} = call(N0, partisan, status, []),
    BeamPid = list_to_integer(call(N0, os, getpid, [])),
    ct:log("~p: ~p, BEAM os pid ~p, C-node ~p os pid ~p, links ~p",
           [Short, Node, BeamPid, CNode, CNodePid, Links]),
    N0#{os_pid => BeamPid, cnode_os_pid => CNodePid, cnode => CNode, links => Links}.

%% Stops the peers of a test case; every C-node must exit with its BEAM.
-spec stop_nodes([map()]) -> ok | {fail, term()}.
stop_nodes(Nodes) ->
    [catch peer:stop(Peer) || #{peer := Peer} <- Nodes],
    Leaked = [N || #{cnode_os_pid := Pid} = N <- Nodes,
                   not wait_os_pid_gone(Pid, 10000)],
    [begin
         os:cmd("kill -CONT " ++ integer_to_list(Pid)),
         os:cmd("kill -9 " ++ integer_to_list(Pid))
     end || #{cnode_os_pid := Pid} <- Leaked],
    case Leaked of
        [] -> ok;
        _ -> {fail, {cnode_outlived_beam, [maps:get(name, N) || N <- Leaked]}}
    end.

-spec call(map(), module(), atom(), list()) -> term().
call(N, M, F, A) ->
    call(N, M, F, A, ?CALL_TIMEOUT).

-spec call(map(), module(), atom(), list(), timeout()) -> term().
call(#{peer := Peer}, M, F, A, Timeout) ->
    peer:call(Peer, M, F, A, Timeout).

-spec node_name(map()) -> node().
node_name(#{node := Node}) -> Node.

-spec names([map()]) -> [node()].
names(Nodes) -> lists:sort([node_name(N) || N <- Nodes]).

%% Everyone but the first joins the first; wait until all agree.
-spec form_cluster([map()]) -> ok.
form_cluster([First | Rest] = Nodes) ->
    Spec = call(First, partisan, node_spec, []),
    [?assertEqual(ok, call(N, partisan, join, [Spec])) || N <- Rest],
    wait_members(Nodes, names(Nodes)).

-spec wait_members([map()], [node()]) -> ok.
wait_members(Nodes, Expected) ->
    [wait_until(io_lib:format("members() on ~p to be ~p", [node_name(N), Expected]),
                fun() -> call(N, partisan, members, []) end,
                fun(Members) -> Members =:= Expected end, ?WAIT)
     || N <- Nodes],
    ok.

%% Polls Fun until Done(Value); fails with the last value after Timeout ms.
-spec wait_until(iodata(), fun(() -> T), fun((T) -> boolean()), non_neg_integer()) -> T.
wait_until(What, Fun, Done, Timeout) ->
    Deadline = erlang:monotonic_time(millisecond) + Timeout,
    wait_loop(What, Fun, Done, Deadline).

wait_loop(What, Fun, Done, Deadline) ->
    Value = Fun(),
    case Done(Value) of
        true ->
            Value;
        false ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true ->
                    ct:fail("timed out waiting for ~ts; last value: ~p",
                            [lists:flatten(What), Value]);
                false ->
                    timer:sleep(100),
                    wait_loop(What, Fun, Done, Deadline)
            end
    end.

%% A process is alive when /proc/Pid exists and it is not a zombie.
-spec os_pid_alive(non_neg_integer()) -> boolean().
os_pid_alive(Pid) ->
    case file:read_file("/proc/" ++ integer_to_list(Pid) ++ "/stat") of
        {ok, Stat} ->
            %% pid (comm) state ...: comm may hold spaces, take what follows ") "
            [_, Rest] = string:split(Stat, ") ", trailing),
            binary:first(Rest) =/= $Z;
        {error, _} ->
            false
    end.

-spec wait_os_pid_gone(non_neg_integer(), non_neg_integer()) -> boolean().
wait_os_pid_gone(Pid, Timeout) ->
    Deadline = erlang:monotonic_time(millisecond) + Timeout,
    wait_gone_loop(Pid, Deadline).

wait_gone_loop(Pid, Deadline) ->
    case os_pid_alive(Pid) of
        false ->
            true;
        true ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> false;
                false -> timer:sleep(100), wait_gone_loop(Pid, Deadline)
            end
    end.

%% Peer-to-peer: each node joins a random one of those before it, the
%% choices seeded by Seed (with the first node's name) so a run repeats.
-spec join_random([map()], {integer(), integer()}) -> ok.
join_random([First | Rest], {S2, S3}) ->
    rand:seed(exsss, {erlang:phash2(node_name(First)), S2, S3}),
    join_random_after(Rest, [First]).

join_random_after([], _) ->
    ok;
join_random_after([N | Rest], In) ->
    Contact = lists:nth(rand:uniform(length(In)), In),
    ?assertEqual(ok, call(N, partisan, join, [call(Contact, partisan, node_spec, [])])),
    join_random_after(Rest, [N | In]).

%% Each node's active view, as the node reports it.
-spec active_views([map()]) -> [{node(), [node()]}].
active_views(Nodes) ->
    [{node_name(N), maps:get(active, call(N, partisan, views, []))} || N <- Nodes].

%% The nodes of Views reachable from From over active views, sorted.
-spec reachable(node(), [{node(), [node()]}]) -> [node()].
reachable(From, Views) ->
    reachable([From], Views, [From]).

reachable([], _, Seen) ->
    lists:sort(Seen);
reachable([N | Queue], Views, Seen) ->
    Next = [X || X <- proplists:get_value(N, Views, []),
                 lists:keymember(X, 1, Views), not lists:member(X, Seen)],
    reachable(Queue ++ Next, Views, Seen ++ Next).

%% On a peer: a process registered as Name that keeps what it receives (a
%% fresh one each call), for broadcasts and messages to a registered name.
-spec collector_start(atom()) -> ok.
collector_start(Name) ->
    case whereis(Name) of
        undefined -> ok;
        Old -> unregister(Name), exit(Old, kill)
    end,
    true = register(Name, spawn(fun() -> collector_loop([]) end)),
    ok.

%% What the collector Name received, oldest first (`timeout' if it does
%% not answer within 5 s).
-spec collector_get(atom()) -> [term()] | timeout.
collector_get(Name) ->
    Name ! {get, self()},
    receive {collected, L} -> L after 5000 -> timeout end.

collector_loop(Acc) ->
    receive
        {get, From} -> From ! {collected, lists:reverse(Acc)}, collector_loop(Acc);
        Msg -> collector_loop([Msg | Acc])
    end.
