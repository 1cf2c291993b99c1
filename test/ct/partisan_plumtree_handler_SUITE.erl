%% partisan_plumtree_broadcast and the partisan_plumtree_broadcast_handler
%% behaviour, with real BEAM nodes (OTP `peer', no Distributed Erlang
%% between them) and real C-nodes: delivery to merge/2 (taken in once) on every
%% other node under full mesh and peer-to-peer, the handler-level lazy
%% repair (is_stale/graft) of a node that lost a message or was away,
%% failing and throwing callbacks, anti-entropy exchanges and their limit,
%% the options. The handler is partisan_test_broadcast_handler (ETS,
%% knobs).
%%
%% Run from the top of the repository:
%%   rebar3 ct --dir test/ct --suite partisan_plumtree_handler_SUITE
-module(partisan_plumtree_handler_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-import(partisan_ct_helpers, [call/4, node_name/1, names/1, wait_until/4, wait_members/2]).

-export([all/0, suite/0,
         init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).

-export([recent_buffer/1,
         options/1,
         delivery_full_mesh/1,
         delivery_peer_to_peer/1,
         lazy_repair/1,
         failing_callbacks/1,
         exchanges/1,
         away_and_cnode_restart/1]).

-define(H, partisan_test_broadcast_handler).
-define(SERVER, partisan_plumtree_broadcast).
-define(WAIT, 30000).
-define(LAZY, 500).
%% Fast failure detection and a fast lazy repair.
-define(BASE_ENV, [{heartbeat_interval, 300},
                   {heartbeat_timeout, 1500},
                   {broadcast_lazy_timer, ?LAZY}]).
%% As partisan_peer_to_peer_SUITE: small views, fast timers.
-define(P2P_ENV, [{topology, peer_to_peer},
                  {max_active_size, 3},
                  {max_passive_size, 8},
                  {arwl, 3},
                  {prwl, 1},
                  {shuffle_interval, 2000},
                  {random_promotion_interval, 1000},
                  {announce_interval, 1000} | ?BASE_ENV]).
-define(FULL_MESH_ENV, [{topology, full_mesh} | ?BASE_ENV]).

all() ->
    [recent_buffer, options, delivery_full_mesh, delivery_peer_to_peer, lazy_repair,
     failing_callbacks, exchanges, away_and_cnode_restart].

suite() ->
    [{timetrap, {minutes, 5}}].

init_per_suite(Config) ->
    partisan_ct_helpers:init_suite(Config).

end_per_suite(_Config) ->
    ok.

init_per_testcase(_Case, Config) ->
    erase(started_nodes),
    Config.

end_per_testcase(_Case, _Config) ->
    Started = case erase(started_nodes) of undefined -> []; L -> L end,
    partisan_ct_helpers:stop_nodes(Started).

%%--------------------------------------------------------------------
%% Cases
%%--------------------------------------------------------------------

%% The bounded buffer of recent ids (pure, on this node): at most Size
%% per handler, the oldest go; an id kept keeps its time; digests hold
%% ids at least MinAge old; ids Age old expire.
recent_buffer(_Config) ->
    R = lists:foldl(fun({Mod, Id, T}, Acc) -> partisan_plumtree_recent:add(Mod, Id, T, Acc) end,
                    partisan_plumtree_recent:new(3, 1000),
                    [{m, a, 0}, {m, b, 10}, {m, c, 20}, {m, a, 30}, {m, d, 40}, {n, x, 40}]),
    ?assertEqual([b, c, d], partisan_plumtree_recent:ids(m, R)),
    ?assertEqual([x], partisan_plumtree_recent:ids(n, R)),
    ?assertEqual([{m, [b, c]}], partisan_plumtree_recent:digest(40, 15, R)),
    ?assertEqual([{m, [b, c, d]}, {n, [x]}], partisan_plumtree_recent:digest(40, 0, R)),
    R1 = partisan_plumtree_recent:expire(1010, R),
    ?assertEqual([c, d], partisan_plumtree_recent:ids(m, R1)),
    R2 = partisan_plumtree_recent:expire(1040, R1),
    ?assertEqual([], partisan_plumtree_recent:ids(m, R2)),
    ?assertEqual([], partisan_plumtree_recent:digest(5000, 0, R2)),
    %% A new id after expiry is kept again.
    R3 = partisan_plumtree_recent:add(m, b, 2000, R2),
    ?assertEqual([{m, [b]}], partisan_plumtree_recent:digest(2000, 0, R3)).

%% Bad values of the broadcast options are refused with
%% {bad_config, {Key, Value}}, by partisan_config and by the start of the
%% application; good ones (bounds included) are taken; the defaults are
%% those of partisan.app.
options(Config) ->
    N = partisan_ct_helpers:start_peer(ph_opts, Config),
    put(started_nodes, []),
    try
        AppEnv = call(N, application, get_all_env, [partisan]),
        Keys = [broadcast_lazy_timer, broadcast_exchange_timer,
                broadcast_max_concurrent_exchanges, broadcast_mods, broadcast_recent_size,
                broadcast_recent_age],
        Defaults = #{broadcast_lazy_timer => 1000, broadcast_exchange_timer => 10000,
                     broadcast_max_concurrent_exchanges => 1, broadcast_mods => [],
                     broadcast_recent_size => 1000, broadcast_recent_age => 60000},
        ?assertEqual({ok, Defaults}, call(N, partisan_config, broadcast_options, [])),
        ?assertEqual(Defaults, maps:with(Keys, maps:from_list(AppEnv))),
        [ok = call(N, application, unset_env, [partisan, K]) || K <- Keys],
        ?assertEqual({ok, Defaults}, call(N, partisan_config, broadcast_options, [])),
        Bad = [{broadcast_lazy_timer, 0}, {broadcast_lazy_timer, -1},
               {broadcast_lazy_timer, 2147483648}, {broadcast_lazy_timer, 1.5},
               {broadcast_lazy_timer, infinity},
               {broadcast_exchange_timer, 0}, {broadcast_exchange_timer, "10"},
               {broadcast_max_concurrent_exchanges, 0},
               {broadcast_max_concurrent_exchanges, one},
               {broadcast_mods, not_a_list}, {broadcast_mods, [ok, "str"]},
               {broadcast_mods, [a | b]},
               {broadcast_recent_size, 0}, {broadcast_recent_size, 100001},
               {broadcast_recent_age, 0}, {broadcast_recent_age, 2147483648}],
        [begin
             ok = call(N, application, set_env, [partisan, K, V]),
             ?assertEqual({error, {bad_config, {K, V}}},
                          call(N, partisan_config, broadcast_options, [])),
             ?assertEqual({error, {bad_config, {K, V}}}, call(N, partisan_config, load, [])),
             ok = call(N, application, unset_env, [partisan, K])
         end || {K, V} <- Bad],
        Good = [{broadcast_lazy_timer, 1}, {broadcast_lazy_timer, 2147483647},
                {broadcast_exchange_timer, 1}, {broadcast_max_concurrent_exchanges, 64},
                {broadcast_recent_size, 1}, {broadcast_recent_size, 100000},
                {broadcast_recent_age, 1}],
        [begin
             ok = call(N, application, set_env, [partisan, K, V]),
             {ok, #{K := V}} = call(N, partisan_config, broadcast_options, []),
             ok = call(N, application, unset_env, [partisan, K])
         end || {K, V} <- Good],
        ok = call(N, application, set_env, [partisan, broadcast_mods, [b, a, b]]),
        ?assertMatch({ok, #{broadcast_mods := [a, b]}},
                     call(N, partisan_config, broadcast_options, [])),
        %% The application does not start with a bad value, and says why.
        ok = call(N, application, set_env, [partisan, broadcast_exchange_timer, 0]),
        ?assertMatch({error, {{bad_config, {broadcast_exchange_timer, 0}}, _}},
                     call(N, application, start, [partisan])),
        ok = call(N, application, unset_env, [partisan, broadcast_exchange_timer]),
        %% Fixed, it starts, and the server runs under partisan_sup.
        {ok, _} = call(N, application, ensure_all_started, [partisan]),
        Pid = call(N, erlang, whereis, [?SERVER]),
        ?assert(is_pid(Pid)),
        ?assert(lists:keymember(Pid, 2, call(N, supervisor, which_children, [partisan_sup]))),
        ?assertEqual([node_name(N)], call(N, ?SERVER, broadcast_members, [])),
        ?assertEqual([], call(N, ?SERVER, exchanges, []))
    after
        catch peer:stop(maps:get(peer, N))
    end.

delivery_full_mesh(Config) ->
    delivery(full_mesh, 3, Config).

delivery_peer_to_peer(Config) ->
    delivery(peer_to_peer, 5, Config).

%% The node whose handler dropped a message (merge said stale, stored
%% nothing) gets it through the lazy repair: a digest from a member,
%% is_stale false, graft on the member, merge again.
lazy_repair(Config) ->
    Nodes = cluster(peer_to_peer, 4, Config),
    [Origin | Others] = Nodes,
    [Loser | Keepers] = Others,
    Id = {repair, 1},
    ok = call(Loser, ?H, lose, [Id]),
    ok = call(Origin, ?H, put, [Id, payload(Id)]),
    [wait_has(N, Id) || N <- Keepers],
    wait_until("the first merge on the loser", fun() -> merges(Loser, [Id]) end,
               fun(Ms) -> Ms =/= [] end, ?WAIT),
    T0 = erlang:monotonic_time(millisecond),
    wait_has(Loser, Id),
    ct:pal("the lost message came back in ~b ms", [erlang:monotonic_time(millisecond) - T0]),
    %% Twice: dropped, then taken in; pulled because is_stale said no;
    %% answered by a graft on a node that had it.
    ?assertEqual([{Id, payload(Id)}, {Id, payload(Id)}], merges(Loser, [Id])),
    ?assert(lists:member({Id}, call(Loser, ?H, calls, [is_stale]))),
    Grafts = [node_name(N) || N <- [Origin | Keepers],
                              lists:member({Id}, call(N, ?H, calls, [graft]))],
    ct:pal("grafted by ~p", [Grafts]),
    ?assertNotEqual([], Grafts),
    ?assertEqual([], call(Loser, ?H, calls, [graft])),
    ok.

%% Callbacks that refuse or throw: graft answering stale, {error, _} or
%% throwing leaves the node that lacks the message without it (and is
%% asked again); merge and is_stale throwing are caught; malformed
%% messages and an unknown handler module are dropped. No server
%% restarts, and once the callbacks behave everything is delivered.
failing_callbacks(Config) ->
    [A, B, C] = Nodes = cluster(full_mesh, 3, Config),
    Pids = servers(Nodes),
    Id1 = {failing, 1},
    ok = call(C, ?H, lose, [Id1]),
    [ok = call(N, ?H, set, [graft, stale]) || N <- [A, B]],
    ok = call(A, ?H, put, [Id1, payload(Id1)]),
    wait_has(B, Id1),
    Grafts = fun() -> length([G || N <- [A, B], G <- call(N, ?H, calls, [graft]), G =:= {Id1}])
             end,
    [begin
         [ok = call(N, ?H, set, [graft, Mode]) || N <- [A, B]],
         G0 = Grafts(),
         wait_until(io_lib:format("two more grafts answered ~p", [Mode]), Grafts,
                    fun(G) -> G >= G0 + 2 end, ?WAIT),
         ?assertEqual(error, call(C, ?H, get, [Id1]))
     end || Mode <- [stale, error, throw]],
    ?assertEqual(Pids, servers(Nodes)),
    [ok = call(N, ?H, set, [graft, ok]) || N <- [A, B]],
    wait_has(C, Id1),
    %% merge throws on b: not stored; once it behaves, the repair brings it.
    Id2 = {failing, 2},
    ok = call(B, ?H, set, [merge, throw]),
    ok = call(A, ?H, put, [Id2, payload(Id2)]),
    wait_has(C, Id2),
    wait_until("b's merge to have thrown", fun() -> merges(B, [Id2]) end,
               fun(Ms) -> Ms =/= [] end, ?WAIT),
    ?assertEqual(error, call(B, ?H, get, [Id2])),
    ok = call(B, ?H, set, [merge, ok]),
    wait_has(B, Id2),
    %% is_stale throws on c: digests to c are dropped.
    ok = call(C, ?H, set, [is_stale, throw]),
    Stale = fun() -> length(call(C, ?H, calls, [is_stale])) end,
    S0 = Stale(),
    wait_until("c to be asked is_stale twice more", Stale, fun(S) -> S >= S0 + 2 end, ?WAIT),
    ok = call(C, ?H, set, [is_stale, ok]),
    ?assertEqual(Pids, servers(Nodes)),
    %% Malformed messages, an unknown handler.
    NA = node_name(A),
    [ok = call(A, partisan, forward_message, [node_name(B), ?SERVER, Msg])
     || Msg <- [{'$partisan_plumtree_ihave', NA, ?H, [x | y]},
                {'$partisan_plumtree_graft', NA, ?H, not_a_list},
                {'$partisan_plumtree_ihave', NA, no_such_handler, [x]},
                {'$partisan_plumtree_graft', NA, no_such_handler, [x]},
                {'$partisan_plumtree_repair', NA, no_such_handler, x, y},
                {'$partisan_plumtree', NA, no_such_handler, x, y},
                {'$partisan_plumtree', "not a node", ?H, x, y},
                garbage]],
    ok = call(A, partisan, broadcast, [?SERVER, {'$partisan_plumtree', NA, no_such_handler, k, v}]),
    %% The next broadcast works, and reached merge once per node.
    Id3 = {failing, 3},
    ok = call(A, ?H, put, [Id3, payload(Id3)]),
    [wait_has(N, Id3) || N <- [B, C]],
    ?assertEqual([{Id3, payload(Id3)}], merges(B, [Id3])),
    ?assertEqual([{Id3, payload(Id3)}], merges(C, [Id3])),
    ?assertEqual(Pids, servers(Nodes)),
    ok.

%% Anti-entropy: exchange/1 is called every broadcast_exchange_timer for
%% the modules of broadcast_mods, with a member, never more at once than
%% broadcast_max_concurrent_exchanges (a: 1, b: 2; c lists no module);
%% errors, exceptions, bad answers and an unknown module are survived;
%% exchanges are listed and cancelled.
exchanges(Config) ->
    Own = [{ex_a, [{broadcast_mods, [?H, no_such_handler]}, {broadcast_exchange_timer, 200},
                   {broadcast_max_concurrent_exchanges, 1}]},
           {ex_b, [{broadcast_mods, [?H]}, {broadcast_exchange_timer, 200},
                   {broadcast_max_concurrent_exchanges, 2}]},
           {ex_c, [{broadcast_exchange_timer, 200}]}],
    Nodes = [partisan_ct_helpers:start_node(O, ?FULL_MESH_ENV, Config) || O <- Own],
    put(started_nodes, Nodes),
    [ok = call(N, ?H, start, []) || N <- Nodes],
    partisan_ct_helpers:form_cluster(Nodes),
    [A, B, C] = Nodes,
    Pids = servers(Nodes),
    Exchanges = fun(N) -> call(N, ?H, calls, [exchange]) end,
    %% Each exchange lasts 1 s (the handler's default knob).
    Samples = [begin
                   timer:sleep(250),
                   {length(call(A, ?SERVER, exchanges, [])), length(call(B, ?SERVER, exchanges, []))}
               end || _ <- lists:seq(1, 16)],
    ct:pal("exchanges running (a, b), sampled: ~p", [Samples]),
    ?assert(lists:all(fun({Ea, Eb}) -> Ea =< 1 andalso Eb =< 2 end, Samples)),
    wait_until("four exchanges started by a and b",
               fun() -> {length(Exchanges(A)), length(Exchanges(B))} end,
               fun({Ea, Eb}) -> Ea >= 4 andalso Eb >= 4 end, ?WAIT),
    [begin
         Calls = Exchanges(N),
         ct:pal("~p: exchange(Peer) calls {Peer, running before}: ~p", [node_name(N), Calls]),
         Peers = names(Nodes) -- [node_name(N)],
         ?assertEqual([], [P || {P, _} <- Calls, not lists:member(P, Peers)]),
         ?assertEqual(Limit - 1, lists:max([R || {_, R} <- Calls]))
     end || {N, Limit} <- [{A, 1}, {B, 2}]],
    ?assertEqual([], Exchanges(C)),
    [?assert(lists:member(P, names(Nodes) -- [node_name(B)]))
     || {?H, P, _, _} <- call(B, ?SERVER, exchanges, [])],
    %% Refusals and exceptions.
    [begin
         ok = call(A, ?H, set, [exchange, Knob]),
         E0 = length(Exchanges(A)),
         wait_until(io_lib:format("two more exchange calls on a with ~p", [Knob]),
                    fun() -> length(Exchanges(A)) end, fun(E) -> E >= E0 + 2 end, ?WAIT),
         ?assertEqual([], call(A, ?SERVER, exchanges, []))
     end || Knob <- [error, throw, bad]],
    ?assertEqual(Pids, servers(Nodes)),
    %% A long exchange is listed, and cancelled.
    ok = call(A, ?H, set, [exchange, {ok, 60000}]),
    [{?H, Peer, Ref, Pid}] = wait_until("a long exchange on a",
                                        fun() -> call(A, ?SERVER, exchanges, []) end,
                                        fun(L) -> length(L) =:= 1 end, ?WAIT),
    ?assertEqual([], call(A, ?SERVER, cancel_exchanges, [{peer, node_name(A)}])),
    ?assertEqual([{?H, Peer, Ref, Pid}], call(A, ?SERVER, cancel_exchanges, [{mod, ?H}])),
    ?assertNot(call(A, erlang, is_process_alive, [Pid])),
    Cancelled = call(B, ?SERVER, cancel_exchanges, [all]),
    ?assert(length(Cancelled) =< 2),
    ?assertNot(lists:any(fun({_, _, _, P}) -> call(B, erlang, is_process_alive, [P]) end,
                         Cancelled)),
    ?assertEqual(Pids, servers(Nodes)),
    ok.

%% A node away while a message travels (partitioned from the others by
%% the C-nodes' fault injection) gets it from the lazy repair once back;
%% the server survives a restart of its C-node and keeps delivering.
away_and_cnode_restart(Config) ->
    [A, B, C] = Nodes = cluster(full_mesh, 3, Config),
    [NA, NB, NC] = [node_name(N) || N <- Nodes],
    Pids = servers(Nodes),
    [?assertEqual(ok, call(N, partisan_cnode, control, [{fault, partition, [NB]}]))
     || N <- [A, C]],
    wait_members([A, C], lists:sort([NA, NC])),
    wait_members([B], [NB]),
    Away = {away, 1},
    ok = call(A, ?H, put, [Away, payload(Away)]),
    wait_has(C, Away),
    timer:sleep(1000),
    ?assertEqual(error, call(B, ?H, get, [Away])),
    [?assertEqual(ok, call(N, partisan_cnode, control, [{fault, heal}])) || N <- [A, C]],
    wait_members(Nodes, names(Nodes)),
    wait_has(B, Away),
    ?assertNotEqual([], [N || N <- [A, C], lists:member({Away}, call(N, ?H, calls, [graft]))]),
    %% b's C-node dies; partisan restarts it and it rejoins; the broadcast
    %% server is the same process and delivers both ways.
    #{cnode_os_pid := OldPid} = B,
    _ = os:cmd("kill -9 " ++ integer_to_list(OldPid)),
    wait_until("a new C-node on b", fun() -> call(B, partisan, status, []) end,
               fun(#{os_pid := P}) -> P =/= OldPid; (_) -> false end, ?WAIT),
    wait_members(Nodes, names(Nodes)),
    ?assertEqual(Pids, servers(Nodes)),
    After = {away, 2},
    ok = call(A, ?H, put, [After, payload(After)]),
    FromB = {away, 3},
    ok = call(B, ?H, put, [FromB, payload(FromB)]),
    [wait_has(N, After) || N <- [B, C]],
    [wait_has(N, FromB) || N <- [A, C]],
    ?assertEqual(Pids, servers(Nodes)),
    ok.

%%--------------------------------------------------------------------
%% Helpers
%%--------------------------------------------------------------------

%% Broadcasts from one node reach every other node's handler, which
%% takes each in as new once, never the origin's, although digests go
%% around meanwhile (is_stale says they are known). Under full mesh the
%% tree is direct: merge/2 is called once, nothing is grafted. Under
%% peer-to-peer a view change can leave the tree repairing for a while;
%% a digest that comes after that and finds a node lacking an id pulls
%% it (a graft), and the tree's copy then merges a second time (as in
%% riak_core, merge/2 is idempotent); the C-node's tree itself never
%% delivers twice, so a second merge without a graft fails the case.
delivery(Topology, Count, Config) ->
    Nodes = cluster(Topology, Count, Config),
    Origin = lists:last(Nodes),
    Others = Nodes -- [Origin],
    Ids = [{Topology, I} || I <- lists:seq(1, 5)],
    [ok = call(Origin, ?H, put, [Id, payload(Id)]) || Id <- Ids],
    [wait_has(N, Id) || N <- Others, Id <- Ids],
    %% The digests announce them (to some node; is_stale answers true).
    wait_until("a digest of these ids to be checked",
               fun() -> [X || N <- Nodes, {X} <- call(N, ?H, calls, [is_stale]),
                              lists:member(X, Ids)] end,
               fun(Checked) -> Checked =/= [] end, ?WAIT),
    timer:sleep(4 * ?LAZY),
    Grafted = lists:usort([Id || N <- Nodes, {Id} <- call(N, ?H, calls, [graft]),
                                 lists:member(Id, Ids)]),
    [begin
         ?assertEqual({node_name(N), lists:sort(Ids)},
                      {node_name(N), lists:sort([Id || {Id} <- call(N, ?H, calls, [merged_new]),
                                                       lists:member(Id, Ids)])}),
         Twice = lists:usort([Id || {Id, _} <- merges(N, Ids)] -- Ids),
         ?assertEqual({node_name(N), []}, {node_name(N), Twice -- Grafted}),
         ?assertEqual([payload(Id) || Id <- Ids],
                      [P || Id <- Ids, {ok, P} <- [call(N, ?H, get, [Id])]])
     end || N <- Others],
    ?assertEqual([], merges(Origin, Ids)),
    case Topology of
        full_mesh ->
            [?assertEqual(length(Ids), length(merges(N, Ids))) || N <- Others],
            ?assertEqual([], Grafted);
        peer_to_peer ->
            ok
    end,
    ct:pal("~p: ~b broadcasts taken in once on each of ~b nodes, not on the origin; "
           "~b pulled by the lazy repair while the tree repaired",
           [Topology, length(Ids), length(Others), length(Grafted)]).

%% Count nodes running partisan and the test handler, in one cluster.
cluster(Topology, Count, Config) ->
    Env = case Topology of
              full_mesh -> ?FULL_MESH_ENV;
              peer_to_peer -> ?P2P_ENV
          end,
    Nodes = [partisan_ct_helpers:start_node(list_to_atom("ph" ++ integer_to_list(I)), Env, Config)
             || I <- lists:seq(1, Count)],
    put(started_nodes, Nodes),
    [ok = call(N, ?H, start, []) || N <- Nodes],
    case Topology of
        full_mesh -> partisan_ct_helpers:form_cluster(Nodes);
        peer_to_peer ->
            partisan_ct_helpers:join_random(Nodes, {41, 7}),
            wait_connected(Nodes)
    end,
    Nodes.

%% The active views connect every node.
wait_connected(Nodes) ->
    All = names(Nodes),
    wait_until("the overlay to be connected",
               fun() -> partisan_ct_helpers:active_views(Nodes) end,
               fun(Views) -> partisan_ct_helpers:reachable(hd(All), Views) =:= All end, ?WAIT).

payload(Id) ->
    {payload, Id}.

wait_has(N, Id) ->
    wait_until(io_lib:format("~p on ~p", [Id, node_name(N)]),
               fun() -> call(N, ?H, get, [Id]) end,
               fun(Got) -> Got =:= {ok, payload(Id)} end, ?WAIT).

%% The merge calls of a node for these ids.
merges(N, Ids) ->
    [{Id, P} || {Id, P} <- call(N, ?H, calls, [merge]), lists:member(Id, Ids)].

servers(Nodes) ->
    [{node_name(N), call(N, erlang, whereis, [?SERVER])} || N <- Nodes].
