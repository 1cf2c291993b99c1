#!/usr/bin/env escript
%% make demo: starts three BEAM nodes on this machine, each with partisan and
%% its C-node; b and c join a; prints members() on each node and shows that
%% the BEAMs are not connected to each other; times message round trips from
%% a to c through the C-nodes; stops everything.
-mode(compile).

main([Root]) ->
    Ebin = filename:join(Root, "_build/default/lib/partisan/ebin"),
    {ok, partisan_demo, Beam} = compile:file(filename:join(Root, "scripts/partisan_demo.erl"), [binary]),
    Cookie = "partisan_demo_" ++ integer_to_list(erlang:unique_integer([positive])),
    Nodes = [start(Name, Ebin, Cookie, Beam) || Name <- [demo_a, demo_b, demo_c]],
    [{A, NodeA}, {B, _}, {C, NodeC}] = Nodes,
    try
        Spec = peer:call(A, partisan, node_spec, []),
        io:format("~nnode_spec() on ~s:~n  ~p~n", [NodeA, Spec]),
        ok = peer:call(B, partisan, join, [Spec]),
        ok = peer:call(C, partisan, join, [Spec]),
        Names = lists:sort([N || {_, N} <- Nodes]),
        wait_members(Nodes, Names, 50),
        io:format("~nmembers() after b and c joined a:~n", []),
        [io:format("  ~s: ~p~n", [N, peer:call(P, partisan, members, [])]) || {P, N} <- Nodes],
        io:format("~nDistributed Erlang connections of each BEAM (only its own C-node, hidden):~n", []),
        [io:format("  ~s: nodes() = ~p, nodes(hidden) = ~p~n",
                   [N, peer:call(P, erlang, nodes, []), peer:call(P, erlang, nodes, [hidden])])
         || {P, N} <- Nodes],
        ok = peer:call(C, partisan_demo, start_echo, []),
        Times = peer:call(A, partisan_demo, round_trips, [NodeC, 1000], 60000),
        Sorted = lists:sort(Times),
        io:format("~n1000 round trips ~s -> ~s -> ~s through partisan: median ~b us, p99 ~b us~n",
                  [NodeA, NodeC, NodeA, lists:nth(500, Sorted), lists:nth(990, Sorted)]),
        io:format("~ndemo ok~n", [])
    after
        [peer:stop(P) || {P, _} <- Nodes]
    end;
main(_) ->
    io:format("usage: demo.escript ROOT~n"),
    halt(2).

start(Name, Ebin, Cookie, DemoBeam) ->
    {ok, P, Node} = peer:start(#{name => Name,
                                 connection => standard_io,
                                 args => ["-setcookie", Cookie,
                                          "-kernel", "inet_dist_use_interface", "{127,0,0,1}",
                                          "-kernel", "dist_auto_connect", "never",
                                          "-pa", Ebin]}),
    {module, partisan_demo} = peer:call(P, code, load_binary, [partisan_demo, "partisan_demo.erl", DemoBeam]),
    {ok, _} = peer:call(P, application, ensure_all_started, [partisan]),
    {P, Node}.

wait_members(_Nodes, Names, 0) ->
    io:format("members did not converge to ~p~n", [Names]),
    halt(1);
wait_members(Nodes, Names, Tries) ->
    case lists:all(fun({P, _}) -> peer:call(P, partisan, members, []) =:= Names end, Nodes) of
        true -> ok;
        false -> timer:sleep(200), wait_members(Nodes, Names, Tries - 1)
    end.
