%% The pubsub topology end to end: real BEAM nodes whose C-nodes reach
%% each other only through a real RabbitMQ broker (a private one per
%% group, test/amqp/broker.sh). Membership by presence, messages to names
%% and pids, FIFO per channel, channel isolation, broadcast, leaving and
%% timing out, nothing lost or doubled across a broker restart on a durable
%% channel, a broker that is down at start, wrong credentials.
-module(partisan_pubsub_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, groups/0, suite/0,
         init_per_suite/1, end_per_suite/1,
         init_per_group/2, end_per_group/2,
         init_per_testcase/2, end_per_testcase/2]).

-export([members_converge_without_addresses/1,
         names_and_pids/1,
         fifo_per_channel/1,
         channel_isolation/1,
         broadcast_reaches_all/1,
         leave_and_timeout/1,
         broker_paused_backpressure/1,
         reconnects_lose_nothing/1,
         monotonic_keeps_newest/1,
         oversized_refused_before_publishing/1,
         broker_restart_durable_channel/1,
         broker_down_at_start/1,
         wrong_credentials/1]).

-import(partisan_ct_helpers, [call/4, call/5, node_name/1, names/1, wait_until/4]).

-define(ANNOUNCE_MS, 500).
-define(MEMBER_TIMEOUT_MS, 4000).
-define(WAIT, 20000).

all() ->
    [{group, shared_broker}, broker_restart_durable_channel, broker_down_at_start, wrong_credentials].

groups() ->
    [{shared_broker, [],
      [members_converge_without_addresses, names_and_pids, fifo_per_channel, channel_isolation,
       broadcast_reaches_all, leave_and_timeout, reconnects_lose_nothing, monotonic_keeps_newest,
       oversized_refused_before_publishing, broker_paused_backpressure]}].

suite() ->
    [{timetrap, {minutes, 6}}].

init_per_suite(Config) ->
    case partisan_ct_broker:available() of
        true -> partisan_ct_helpers:init_suite(Config);
        {false, Why} -> {fail, "no RabbitMQ broker: " ++ Why}
    end.

end_per_suite(_Config) ->
    ok.

init_per_group(shared_broker, Config) ->
    [{broker, partisan_ct_broker:start(Config)} | Config].

end_per_group(shared_broker, Config) ->
    partisan_ct_broker:stop(?config(broker, Config)).

init_per_testcase(Case, Config) when Case =:= broker_restart_durable_channel;
                                     Case =:= wrong_credentials ->
    [{broker, partisan_ct_broker:start(Config)} | Config];
init_per_testcase(_Case, Config) ->
    Config.

end_per_testcase(Case, Config) ->
    Nodes = tracked(),
    [os:cmd("kill -CONT " ++ integer_to_list(Pid)) || #{cnode_os_pid := Pid} <- Nodes],
    ok = partisan_ct_helpers:stop_nodes(Nodes),
    %% The cases with a broker of their own stop it (by directory, so
    %% after a restart too).
    case lists:member(Case, [broker_restart_durable_channel, wrong_credentials]) of
        true -> partisan_ct_broker:stop(?config(broker, Config));
        false -> ok
    end,
    ok.

%% Test cases

%% Nodes that know only the broker find each other; join(Spec) of a
%% present node is accepted and returns once it is heard.
members_converge_without_addresses(Config) ->
    Nodes = [A, B, C] = start_nodes([a, b, c], Config),
    put_nodes(Nodes),
    partisan_ct_helpers:wait_members(Nodes, names(Nodes)),
    Spec = call(A, partisan, node_spec, []),
    ?assertMatch(#{listen_addrs := []}, Spec),
    ?assertEqual(ok, call(B, partisan, join, [Spec])),
    ?assertEqual(ok, call(C, partisan, join, [{node_name(A), {127, 0, 0, 1}, 1}])),
    %% A node that is not there: the join says so.
    ?assertMatch({error, _}, call(C, partisan, join, [{'nobody@127.0.0.1', {127, 0, 0, 1}, 1}])),
    ?assertEqual(names(Nodes), call(C, partisan, members, [])).

%% Registered names and pids as destinations; a pid received is a reply address.
names_and_pids(Config) ->
    Nodes = [A, B] = start_nodes([a, b], Config),
    put_nodes(Nodes),
    partisan_ct_helpers:wait_members(Nodes, names(Nodes)),
    NB = node_name(B),
    [?assertMatch({{ok, #{from := NB, same := true, digest_ok := true}}, _},
                  {call(A, partisan_test_server, roundtrip, [NB, How, hello, 10000]), How})
     || How <- [{fwd3, partisan_test_server}, {fwd4, partisan_test_server, #{channel => bulk}},
                {fwd5, undefined, partisan_test_server, #{}}, {ps3, partisan_test_server}]],
    [?assertMatch({{ok, #{same := true, digest_ok := true}}, _},
                  {call(A, partisan_test_server, roundtrip, [NB, {fwd3, partisan_test_server}, T, 10000]), K})
     || {K, T} <- call(A, partisan_test_server, fidelity_terms, [])],
    ?assertMatch({ok, NB, _}, call(A, partisan_test_server, cast_roundtrip, [NB, cast5, 10000])).

%% FIFO per sender, receiver and channel through the broker: 100,000
%% messages arrive once each, in order.
fifo_per_channel(Config) ->
    Nodes = [A, B] = start_nodes([a, b], Config),
    put_nodes(Nodes),
    partisan_ct_helpers:wait_members(Nodes, names(Nodes)),
    N = 100000,
    {ok, _} = call(B, partisan_test_server, start_seq_collector, []),
    ?assertEqual(ok, call(A, partisan_test_server, send_seq, [node_name(B), N, [{channel, bulk}]], 120000)),
    wait_until("all sequence numbers at b",
               fun() -> call(B, partisan_test_server, seq_result, []) end,
               fun({Count, _}) -> Count >= N end, 120000),
    ?assertEqual({N, ok}, call(B, partisan_test_server, seq_result, [])).

%% A channel flooded with large messages does not hold back small ones on
%% another channel (separate AMQP channels, queues and windows).
channel_isolation(Config) ->
    Nodes = [A, B] = start_nodes([a, b], Config),
    put_nodes(Nodes),
    partisan_ct_helpers:wait_members(Nodes, names(Nodes)),
    NB = node_name(B),
    ok = call(B, partisan_test_server, register_sink, [bulk_sink]),
    Big = binary:copy(<<"x">>, 1 bsl 20),
    Flooder = call(A, erlang, spawn, [fun() -> [partisan:forward_message(NB, bulk_sink, {big, I, Big},
                                                                          [{channel, bulk}])
                                                 || I <- lists:seq(1, 100)] end]),
    timer:sleep(200),
    Times = [begin
                 T0 = erlang:monotonic_time(millisecond),
                 {ok, #{same := true}} = call(A, partisan_test_server, roundtrip,
                                              [NB, {fwd4, partisan_test_server, #{channel => undefined}},
                                               I, 10000]),
                 erlang:monotonic_time(millisecond) - T0
             end || I <- lists:seq(1, 5)],
    ct:log("small round trips during the flood: ~p ms; flooder ~p", [Times, Flooder]),
    %% Generous: 100 MiB on the bulk channel takes far longer than this.
    ?assert(lists:max(Times) < 5000).

%% broadcast reaches every member's registered process once.
broadcast_reaches_all(Config) ->
    Nodes = [A | _] = start_nodes([a, b, c], Config),
    put_nodes(Nodes),
    partisan_ct_helpers:wait_members(Nodes, names(Nodes)),
    [ok = call(N, partisan_ct_helpers, collector_start, [bcast]) || N <- Nodes],
    ok = call(A, partisan, broadcast, [bcast, {hello_all, 1}]),
    [wait_until(io_lib:format("broadcast at ~p", [node_name(N)]),
                fun() -> call(N, partisan_ct_helpers, collector_get, [bcast]) end,
                fun(L) -> L =:= [{hello_all, 1}] end, ?WAIT) || N <- Nodes],
    timer:sleep(500),
    [?assertEqual([{hello_all, 1}], call(N, partisan_ct_helpers, collector_get, [bcast])) || N <- Nodes].

%% A node that leaves is removed at once; one that stops announcing (its
%% BEAM killed) after member_timeout; monitor_nodes reports both.
leave_and_timeout(Config) ->
    Nodes = [A, B, C] = start_nodes([a, b, c], Config),
    put_nodes(Nodes),
    partisan_ct_helpers:wait_members(Nodes, names(Nodes)),
    {ok, _} = call(A, partisan_test_server, start_event_collector, []),
    ok = call(B, partisan, leave, []),
    T0 = erlang:monotonic_time(millisecond),
    partisan_ct_helpers:wait_members([A, C], names([A, C])),
    Left = erlang:monotonic_time(millisecond) - T0,
    ct:log("b removed ~p ms after its leave", [Left]),
    ?assert(Left < ?MEMBER_TIMEOUT_MS),
    ?assertEqual([node_name(B)], call(B, partisan, members, [])),
    %% C's BEAM and C-node stop without a word.
    #{peer := PeerC, cnode_os_pid := CPid} = C,
    os:cmd("kill -STOP " ++ integer_to_list(CPid)),
    T1 = erlang:monotonic_time(millisecond),
    wait_until("c removed at a", fun() -> call(A, partisan, members, []) end,
               fun(M) -> M =:= [node_name(A)] end, ?WAIT),
    Gone = erlang:monotonic_time(millisecond) - T1,
    ct:log("c removed ~p ms after it went silent", [Gone]),
    ?assert(Gone >= ?MEMBER_TIMEOUT_MS - 1000),
    os:cmd("kill -CONT " ++ integer_to_list(CPid)),
    _ = PeerC,
    Events = call(A, partisan_test_server, events, []),
    ?assert(lists:member({nodedown, node_name(B)}, Events)),
    ?assert(lists:member({nodedown, node_name(C)}, Events)).

%% Both nodes' broker connections break mid-stream (fault injection, as a
%% network fault would) and come back: on a transient channel, with the
%% broker alive, every message arrives once, in order.
reconnects_lose_nothing(Config) ->
    Nodes = [A, B] = start_nodes([a, b], Config),
    put_nodes(Nodes),
    partisan_ct_helpers:wait_members(Nodes, names(Nodes)),
    NA = node_name(A),
    NB = node_name(B),
    N = 30000,
    {ok, _} = call(B, partisan_test_server, start_seq_collector, []),
    _ = call(A, erlang, spawn, [partisan_test_server, send_seq, [NB, N, [{channel, bulk}]]]),
    Break = fun(Who, Peer) -> ok = call(Who, partisan_cnode, control, [{fault, close_link, Peer, bulk, 0}]) end,
    At = fun(Count) -> wait_until(io_lib:format("~p messages at b", [Count]),
                                  fun() -> call(B, partisan_test_server, seq_result, []) end,
                                  fun({Got, _}) -> Got >= Count end, ?WAIT) end,
    At(3000),
    Break(A, NB),
    At(10000),
    Break(B, NA),
    At(17000),
    Break(A, NB),
    Break(B, NA),
    At(N),
    timer:sleep(1000),
    ?assertEqual({N, ok}, call(B, partisan_test_server, seq_result, [])),
    Reconnects = maps:get(reconnects, maps:get(bulk, maps:get(NB, call(A, partisan, stats, [])))),
    ct:log("a's reconnects to the broker: ~p", [Reconnects]),
    ?assert(Reconnects >= 2),
    ?assertEqual(names(Nodes), call(A, partisan, members, [])).

%% While a monotonic channel's messages cannot be published (the broker
%% stopped reading), a newer one to the same node replaces the older one
%% waiting; the newest always arrives.
monotonic_keeps_newest(Config) ->
    #{os_pid := BrokerPid} = ?config(broker, Config),
    Env = [{channels, #{bulk => #{}, jobs => #{durable => true}, state => #{monotonic => true}}}],
    Nodes = [A, B] = [start_node(S, Env, Config) || S <- [a, b]],
    put_nodes(Nodes),
    partisan_ct_helpers:wait_members(Nodes, names(Nodes)),
    NB = node_name(B),
    ok = call(B, partisan_ct_helpers, collector_start, [state_sink]),
    %% Enough to fill what the broker's socket takes before it stops.
    Pad = binary:copy(<<"s">>, 4096),
    os:cmd("kill -STOP " ++ integer_to_list(BrokerPid)),
    try
        [ok = call(A, partisan, forward_message, [NB, state_sink, {state, I, Pad}, #{channel => state}])
         || I <- lists:seq(1, 400)]
    after
        os:cmd("kill -CONT " ++ integer_to_list(BrokerPid))
    end,
    wait_until("the newest state at b", fun() -> call(B, partisan_ct_helpers, collector_get, [state_sink]) end,
               fun(L) -> is_list(L) andalso L =/= [] andalso element(2, lists:last(L)) =:= 400 end, ?WAIT),
    Got = [I || {state, I, _} <- call(B, partisan_ct_helpers, collector_get, [state_sink])],
    Shed = maps:get(dropped, maps:get(state, maps:get(NB, call(A, partisan, stats, [])))),
    ct:log("received ~p of 400 states (~p shed at a): ~w", [length(Got), Shed, Got]),
    ?assertEqual(Got, lists:usort(Got)),  % in order, no copy
    ?assert(length(Got) < 400),
    ?assertEqual(400 - length(Got), Shed).

%% A message larger than the broker takes is refused before it is
%% published (else the broker would close the channel, and the message go
%% again after every reconnect); the channel goes on.
oversized_refused_before_publishing(Config) ->
    Nodes = [A, B] = [start_node(S, [{amqp_max_message_size, 65536}], Config) || S <- [a, b]],
    put_nodes(Nodes),
    partisan_ct_helpers:wait_members(Nodes, names(Nodes)),
    NB = node_name(B),
    ok = call(A, partisan, forward_message, [NB, partisan_test_server, binary:copy(<<"x">>, 70000)]),
    ?assertMatch({ok, #{same := true}},
                 call(A, partisan_test_server, roundtrip, [NB, {fwd3, partisan_test_server}, small, 10000])),
    Stats = maps:get(undefined, maps:get(NB, call(A, partisan, stats, []))),
    ?assertMatch(#{dropped := 1, reconnects := 0}, Stats).

%% The broker stops reading (its VM stopped): a channel's window fills,
%% then that channel's senders are suspended (memory stays bounded);
%% when the broker goes on, everything arrives once, in order.
broker_paused_backpressure(Config) ->
    #{os_pid := BrokerPid} = ?config(broker, Config),
    Window = 500,
    Nodes = [A, B] = [start_node(S, [{amqp_window_messages, Window}], Config) || S <- [a, b]],
    put_nodes(Nodes),
    partisan_ct_helpers:wait_members(Nodes, names(Nodes)),
    NB = node_name(B),
    N = 200000,
    {ok, _} = call(B, partisan_test_server, start_seq_collector, []),
    os:cmd("kill -STOP " ++ integer_to_list(BrokerPid)),
    Sender = try
                 S = call(A, erlang, spawn, [partisan_test_server, send_seq, [NB, N, [{channel, bulk}]]]),
                 timer:sleep(3000),
                 Queued = queued(call(A, partisan, stats, []), NB, bulk),
                 {Got, ok} = call(B, partisan_test_server, seq_result, []),
                 ct:log("broker stopped: ~p queued in the window, ~p received, sender alive: ~p",
                        [Queued, Got, call(A, erlang, is_process_alive, [S])]),
                 ?assert(call(A, erlang, is_process_alive, [S])),  % suspended, not done
                 ?assert(Queued >= Window),
                 ?assert(Queued < N div 10),
                 ?assert(Got < N),
                 S
             after
                 os:cmd("kill -CONT " ++ integer_to_list(BrokerPid))
             end,
    wait_until("every message at b", fun() -> call(B, partisan_test_server, seq_result, []) end,
               fun({Count, _}) -> Count >= N end, 180000),
    ?assertEqual({N, ok}, call(B, partisan_test_server, seq_result, [])),
    ?assertNot(call(A, erlang, is_process_alive, [Sender])).

%% The broker restarts in the middle of a 100,000-message stream: on a
%% durable channel every message arrives once, in order (publisher
%% confirms, go-back-N, acks after the hand-off to the BEAM, the
%% receiver's sequence check).
broker_restart_durable_channel(Config) ->
    Broker = ?config(broker, Config),
    Nodes = [A, B] = start_nodes([a, b], Config),
    put_nodes(Nodes),
    partisan_ct_helpers:wait_members(Nodes, names(Nodes)),
    N = 100000,
    {ok, _} = call(B, partisan_test_server, start_seq_collector, []),
    NB = node_name(B),
    Sender = call(A, erlang, spawn, [partisan_test_server, send_seq, [NB, N, [{channel, jobs}]]]),
    %% Meanwhile a stream on the transient channel bulk, whose queue does
    %% not survive the restart.
    ok = call(B, partisan_test_server, register_sink, [bulk_sink]),
    Bulk = call(A, erlang, spawn, [fun() -> [partisan:forward_message(NB, bulk_sink, {bulk, I}, [{channel, bulk}])
                                             || I <- lists:seq(1, 30000)] end]),
    wait_until("some messages at b", fun() -> call(B, partisan_test_server, seq_result, []) end,
               fun({Count, _}) -> Count >= 5000 end, ?WAIT),
    _ = partisan_ct_broker:restart(Broker),
    ct:log("broker restarted; senders ~p", [{Sender, Bulk}]),
    wait_until("every message at b", fun() -> call(B, partisan_test_server, seq_result, []) end,
               fun({Count, _}) -> Count >= N end, 180000),
    timer:sleep(1000),
    ?assertEqual({N, ok}, call(B, partisan_test_server, seq_result, [])),
    ?assertEqual(names(Nodes), call(A, partisan, members, [])),
    %% What the transient channel lost with its queue does not stall it.
    wait_until("the bulk stream sent", fun() -> call(A, erlang, is_process_alive, [Bulk]) end,
               fun(Alive) -> not Alive end, 180000),
    ?assertMatch({ok, #{same := true}},
                 call(A, partisan_test_server, roundtrip,
                      [NB, {fwd4, partisan_test_server, #{channel => bulk}}, after_restart, 30000])),
    ct:log("bulk messages from a lost with the broker's queue: ~p",
           [maps:get(dropped, maps:get(bulk, maps:get(node_name(A), call(B, partisan, stats, []))))]).

%% No broker when the nodes start: they start anyway, alone, and find
%% each other once it is there.
broker_down_at_start(Config) ->
    Port = free_port(),
    Nodes = [A, B] = start_nodes([a, b], [{amqp_port, Port} | Config]),
    put_nodes(Nodes),
    timer:sleep(1000),
    ?assertEqual([node_name(A)], call(A, partisan, members, [])),
    ?assertMatch({error, _}, call(A, partisan, forward_message, [node_name(B), partisan_test_server, x])),
    Broker = partisan_ct_broker:start(Config, Port),
    try
        partisan_ct_helpers:wait_members(Nodes, names(Nodes)),
        ?assertMatch({ok, _}, call(A, partisan_test_server, roundtrip,
                                   [node_name(B), {fwd3, partisan_test_server}, after_start, 10000]))
    after
        partisan_ct_broker:stop(Broker)
    end.

%% A node with the wrong password never gets in; the others do not see it.
wrong_credentials(Config) ->
    Broker = ?config(broker, Config),
    ok = partisan_ct_broker:add_user(Broker, "alice", "right-password"),
    Dir = ?config(priv_dir, Config),
    Good = filename:join(Dir, "good"),
    Bad = filename:join(Dir, "bad"),
    ok = file:write_file(Good, "right-password\n"),
    ok = file:write_file(Bad, "wrong-password\n"),
    A = start_node(a, [{amqp, #{user => "alice", password_file => Good}}], Config),
    B = start_node(b, [{amqp, #{user => "alice", password_file => Good}}], Config),
    M = start_node(m, [{amqp, #{user => "alice", password_file => Bad}}], Config),
    put_nodes([A, B, M]),
    partisan_ct_helpers:wait_members([A, B], names([A, B])),
    timer:sleep(2 * ?ANNOUNCE_MS),
    ?assertEqual(names([A, B]), call(A, partisan, members, [])),
    ?assertEqual([node_name(M)], call(M, partisan, members, [])).

%% Helpers

start_nodes(Shorts, Config) ->
    [start_node(S, [], Config) || S <- Shorts].

start_node(Short, Env, Config) ->
    Broker = proplists:get_value(broker, Config),
    Port = case proplists:get_value(amqp_port, Config) of
               undefined -> maps:get(port, Broker);
               P -> P
           end,
    Amqp = case lists:keyfind(amqp, 1, Env) of
               {amqp, Map} -> maps:merge(#{port => Port}, Map);
               false -> #{port => Port}
           end,
    Base = [{topology, pubsub},
            {amqp, Amqp},
            {announce_interval, ?ANNOUNCE_MS},
            {member_timeout, ?MEMBER_TIMEOUT_MS},
            {channels, #{bulk => #{}, jobs => #{durable => true}}}],
    partisan_ct_helpers:start_node({Short, lists:keydelete(amqp, 1, Env)}, Base, Config).

queued(Stats, Node, Channel) ->
    maps:get(messages_queued, maps:get(Channel, maps:get(Node, Stats))).

%% The nodes of the running case, stopped by end_per_testcase (which may
%% run in another process: a tracker holds them).
put_nodes(Nodes) ->
    tracker() ! {add, Nodes},
    ok.

tracked() ->
    tracker() ! {take, self()},
    receive {tracked, Nodes} -> Nodes after 5000 -> [] end.

tracker() ->
    case whereis(partisan_pubsub_tracker) of
        undefined ->
            Pid = spawn(fun() -> track([]) end),
            try register(partisan_pubsub_tracker, Pid) of
                true -> Pid
            catch
                error:badarg -> exit(Pid, kill), whereis(partisan_pubsub_tracker)
            end;
        Pid ->
            Pid
    end.

track(Nodes) ->
    receive
        {add, More} -> track(More ++ Nodes);
        {take, From} -> From ! {tracked, Nodes}, track([])
    end.

free_port() ->
    {ok, S} = gen_tcp:listen(0, [{ip, {127, 0, 0, 1}}]),
    {ok, Port} = inet:port(S),
    ok = gen_tcp:close(S),
    Port.
