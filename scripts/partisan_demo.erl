%% @doc Code the demo loads onto its nodes: an echo server that answers
%% through partisan, and a client that times round trips.
-module(partisan_demo).

-export([start_echo/0, round_trips/2]).

%% @doc Registers `partisan_echo': it answers `{ping, From, Ref, Payload}'
%% with `{pong, Ref, Payload}', sent back to `From' through partisan.
-spec start_echo() -> ok.
start_echo() ->
    Pid = spawn(fun echo_loop/0),
    register(partisan_echo, Pid),
    ok.

echo_loop() ->
    receive
        {ping, From, Ref, Payload} ->
            ok = partisan:forward_message(node(From), From, {pong, Ref, Payload}),
            echo_loop()
    end.

%% @doc Sends `N' pings to the echo server on `Node', one at a time; returns
%% the round trips in microseconds.
-spec round_trips(node(), pos_integer()) -> [non_neg_integer()].
round_trips(Node, N) ->
    [round_trip(Node) || _ <- lists:seq(1, N)].

round_trip(Node) ->
    Ref = make_ref(),
    T0 = erlang:monotonic_time(microsecond),
    ok = partisan:forward_message(Node, partisan_echo, {ping, self(), Ref, <<"hello">>}),
    receive
        {pong, Ref, <<"hello">>} -> erlang:monotonic_time(microsecond) - T0
    after 5000 ->
        error({no_pong_from, Node})
    end.
