%% @doc The workloads of the benchmarks, run on the benchmark nodes (loaded
%% there with `-pa'). Every function takes a `Via' saying how messages
%% travel: `dist' (Distributed Erlang, `!') or `{partisan, Channel}'
%% (`partisan:forward_message/4' on that channel, sender affinity routing).
%%
%% Times that span two nodes use `os:system_time/1' (the machine's one
%% clock, the same in every BEAM of the machine), so "time until all
%% arrived" is the receiver's clock at the last arrival minus the sender's
%% clock at the start, with nothing added for telling the sender.
-module(bench_load).

-export([send/4]).
%% one-way bulk: N workers -> a sink
-export([start_sink/2, stop_sink/0, run_senders/5]).
%% ping-pong
-export([start_echo/0, pings/4]).
%% background traffic
-export([start_background/4, stop_background/0]).
%% quorum key-value store and echo service (experiment 4)
-export([start_kv/2, run_kv_clients/6, run_echo_clients/5]).

-type via() :: dist | {partisan, atom()} | {partisan, atom(), key}.

-define(SINK, bench_sink).
-define(ECHO, bench_echo).
-define(KV, bench_kv).
-define(BG, bench_background).
-define(WAITER, bench_waiter).

%%====================================================================
%% Sending
%%====================================================================

%% @doc Sends `Msg' to `Dest' (a registered name or a pid) on `Node'.
%% `{partisan, Channel, key}' routes by the partition key `Key' taken from
%% a `{Key, Msg}' pair (partition-key routing, experiment 4).
-spec send(via(), node(), atom() | pid(), term()) -> ok.
send(dist, _Node, Pid, Msg) when is_pid(Pid) ->
    Pid ! Msg,
    ok;
send(dist, Node, Name, Msg) ->
    erlang:send({Name, Node}, Msg),
    ok;
send({partisan, Channel}, Node, Dest, Msg) ->
    ok = partisan:forward_message(Node, Dest, Msg, #{channel => Channel});
send({partisan, Channel, key}, Node, Dest, {Key, Msg}) ->
    ok = partisan:forward_message(Node, Dest, Msg, #{channel => Channel, partition_key => Key}).

%% A plain message to a pid, routed by partition key when `Via' says so.
send_key(Via = {partisan, _, key}, Pid, Key, Msg) -> send(Via, node(Pid), Pid, {Key, Msg});
send_key(Via, Pid, _Key, Msg) -> send(Via, node(Pid), Pid, Msg).

now_us() -> os:system_time(microsecond).

%%====================================================================
%% One-way bulk
%%====================================================================

%% @doc Registers a sink (replacing an older one) that counts `Total'
%% messages and then reports `{bench_done, Ref, LastArrivalUs}' through
%% `Via' to the process registered as `bench_waiter' on `WaiterNode'.
-spec start_sink(via(), {node(), reference(), pos_integer()}) -> ok.
start_sink(Via, {WaiterNode, Ref, Total}) ->
    stop_sink(),
    Pid = spawn(fun() -> sink(Via, WaiterNode, Ref, Total) end),
    true = register(?SINK, Pid),
    ok.

-spec stop_sink() -> ok.
stop_sink() ->
    case whereis(?SINK) of
        undefined -> ok;
        Old -> unregister(?SINK), exit(Old, kill), ok
    end.

sink(Via, WaiterNode, Ref, 0) ->
    send(Via, WaiterNode, ?WAITER, {bench_done, Ref, now_us()});
sink(Via, WaiterNode, Ref, Left) ->
    receive _ -> sink(Via, WaiterNode, Ref, Left - 1) end.

%% @doc `N' workers here each send `Count' binaries of `Size' bytes to the
%% sink on `SinkNode' (started with `start_sink/2' and the same `Ref').
%% Returns the microseconds from the start to the last arrival, or
%% `{error, timeout}' after `TimeoutMs'.
-spec run_senders(via(), node(), {pos_integer(), pos_integer(), pos_integer()},
                  reference(), timeout()) -> {ok, pos_integer()} | {error, timeout}.
run_senders(Via, SinkNode, {N, Count, Size}, Ref, TimeoutMs) ->
    catch unregister(?WAITER),
    true = register(?WAITER, self()),
    Payload = binary:copy(<<"x">>, Size),
    Go = make_ref(),
    Workers = [spawn_link(fun() ->
                                  receive Go -> ok end,
                                  send_n(Via, SinkNode, Payload, Count)
                          end) || _ <- lists:seq(1, N)],
    T0 = now_us(),
    [W ! Go || W <- Workers],
    Result = receive
                 {bench_done, Ref, TLast} -> {ok, max(1, TLast - T0)}
             after TimeoutMs ->
                     [begin unlink(W), exit(W, kill) end || W <- Workers],
                     {error, timeout}
             end,
    unregister(?WAITER),
    Result.

send_n(_Via, _Node, _Payload, 0) -> ok;
send_n(Via, Node, Payload, K) ->
    send(Via, Node, ?SINK, Payload),
    send_n(Via, Node, Payload, K - 1).

%%====================================================================
%% Ping-pong
%%====================================================================

%% @doc Registers an echo process: `{ping, From, Ref, Data}' is answered
%% with `{pong, Ref}' through the `Via' given in the ping.
-spec start_echo() -> ok.
start_echo() ->
    case whereis(?ECHO) of
        undefined -> ok;
        Old -> unregister(?ECHO), exit(Old, kill)
    end,
    true = register(?ECHO, spawn(fun echo/0)),
    ok.

echo() ->
    receive
        {ping, Via, From, Ref, _Data} -> send(Via, node(From), From, {pong, Ref})
    end,
    echo().

%% @doc `Count' sequential round trips of a `Size'-byte ping to the echo on
%% `Node'; returns the round-trip times in microseconds.
-spec pings(via(), node(), pos_integer(), non_neg_integer()) -> [pos_integer()] | {error, term()}.
pings(Via, Node, Count, Size) ->
    Data = binary:copy(<<"p">>, Size),
    ping(Via, Node, Count, Data, []).

ping(_Via, _Node, 0, _Data, Acc) -> lists:reverse(Acc);
ping(Via, Node, K, Data, Acc) ->
    Ref = make_ref(),
    T0 = erlang:monotonic_time(microsecond),
    send(Via, Node, ?ECHO, {ping, Via, self(), Ref, Data}),
    receive
        {pong, Ref} -> ping(Via, Node, K - 1, Data, [erlang:monotonic_time(microsecond) - T0 | Acc])
    after 10000 -> {error, {no_pong, Node}}
    end.

%%====================================================================
%% Background traffic
%%====================================================================

%% @doc Starts (replacing) a process that sends a `Size'-byte binary to
%% the sink-less name `bench_bg_drop' on each of `Nodes' every
%% `IntervalMs' (a blocked send just delays the next one). Returns at
%% once; `stop_background/0' returns the number of messages sent.
-spec start_background(via(), [node()], pos_integer(), pos_integer()) -> ok.
start_background(Via, Nodes, Size, IntervalMs) ->
    _ = stop_background(),
    Payload = binary:copy(<<"g">>, Size),
    Pid = spawn(fun() ->
                        %% a receiver, so that the traffic is delivered, not dropped at the far end
                        drop_start(),
                        self() ! tick,
                        background(Via, Nodes, Payload, IntervalMs, 0)
                end),
    true = register(?BG, Pid),
    ok.

drop_start() ->
    case whereis(bench_bg_drop) of
        undefined -> register(bench_bg_drop, spawn(fun drop/0));
        _ -> ok
    end.

drop() -> receive _ -> drop() end.

background(Via, Nodes, Payload, IntervalMs, Sent) ->
    receive
        tick ->
            erlang:send_after(IntervalMs, self(), tick),
            [send(Via, N, bench_bg_drop, Payload) || N <- Nodes],
            background(Via, Nodes, Payload, IntervalMs, Sent + length(Nodes));
        {stop, From} ->
            From ! {bg_sent, Sent}
    end.

-spec stop_background() -> non_neg_integer().
stop_background() ->
    case whereis(?BG) of
        undefined -> 0;
        Pid ->
            MRef = monitor(process, Pid),
            Pid ! {stop, self()},
            Sent = receive {bg_sent, S} -> S after 30000 -> exit(Pid, kill), 0 end,
            receive {'DOWN', MRef, process, Pid, _} -> Sent end
    end.

%%====================================================================
%% Experiment 4: echo service and a quorum key-value store
%%====================================================================

%% @doc Starts (replacing) the store on this node: a ring of `Vnodes'
%% processes, each holding its keys in a map. A vnode answers
%% `{get, Key, From, ReqRef}' with `{reply, ReqRef, Value}' and
%% `{put, Key, Value, From, ReqRef}' with `{reply, ReqRef, ok}' (through
%% `Via', to `From'), and `{echo, From, ReqRef, Key, Data}' with
%% `{reply, ReqRef, Data}'. With partition-key routing the answer goes with
%% the request's key. The pids are returned, for the ring table.
-spec start_kv(via(), pos_integer()) -> [pid()].
start_kv(Via, Vnodes) ->
    [begin
         Name = list_to_atom("bench_kv_" ++ integer_to_list(I)),
         case whereis(Name) of
             undefined -> ok;
             Old -> unregister(Name), exit(Old, kill)
         end,
         Pid = spawn(fun() -> vnode(Via, #{}) end),
         true = register(Name, Pid),
         Pid
     end || I <- lists:seq(1, Vnodes)].

vnode(Via, Store) ->
    receive
        {get, Key, From, ReqRef} ->
            send_key(Via, From, Key, {reply, ReqRef, maps:get(Key, Store, not_found)}),
            vnode(Via, Store);
        {put, Key, Value, From, ReqRef} ->
            send_key(Via, From, Key, {reply, ReqRef, ok}),
            vnode(Via, Store#{Key => Value});
        {echo, From, ReqRef, Key, Data} ->
            send_key(Via, From, Key, {reply, ReqRef, Data}),
            vnode(Via, Store)
    end.

%% @doc `N' clients here each run `Ops' requests against the store whose
%% vnodes are `Ring' (a tuple of pids, all nodes' vnodes interleaved):
%% a key's preference list is the `Replicas' vnodes after its hash; a put
%% goes to all of them and waits for `W' answers, a get waits for `R'
%% (quorum, R + W > Replicas). `Mix' is the share of gets (0..100).
%% Returns `{ok, Micros, Latencies}' (per request, microseconds, sorted).
-spec run_kv_clients(via(), tuple(), {pos_integer(), pos_integer(), pos_integer()},
                     {pos_integer(), pos_integer()}, {pos_integer(), 0..100, pos_integer()},
                     timeout()) -> {ok, pos_integer(), [pos_integer()]} | {error, timeout}.
run_kv_clients(Via, Ring, {Replicas, R, W}, {N, Ops}, {Keys, Mix, ValueSize}, TimeoutMs) ->
    Value = binary:copy(<<"v">>, ValueSize),
    Run = fun(Id) ->
                  rand:seed(exsss, {Id, 7, 11}),
                  [begin
                       flush_stale(),
                       Key = rand:uniform(Keys),
                       Prefs = preference_list(Ring, Key, Replicas),
                       ReqRef = make_ref(),
                       T0 = erlang:monotonic_time(microsecond),
                       case rand:uniform(100) =< Mix of
                           true ->
                               [send_key(Via, P, Key, {get, Key, self(), ReqRef}) || P <- Prefs],
                               await_replies(ReqRef, R);
                           false ->
                               [send_key(Via, P, Key, {put, Key, Value, self(), ReqRef}) || P <- Prefs],
                               await_replies(ReqRef, W)
                       end,
                       erlang:monotonic_time(microsecond) - T0
                   end || _ <- lists:seq(1, Ops)]
          end,
    run_clients(N, Run, TimeoutMs).

%% @doc `N' clients here each send `Ops' echo requests of `Size' bytes, one
%% at a time, each to a vnode of `Ring' chosen at random (so to any node;
%% the partition key is the vnode's place in the ring), and wait for the
%% answer.
-spec run_echo_clients(via(), tuple(), {pos_integer(), pos_integer()}, pos_integer(), timeout()) ->
          {ok, pos_integer(), [pos_integer()]} | {error, timeout}.
run_echo_clients(Via, Ring, {N, Ops}, Size, TimeoutMs) ->
    Data = binary:copy(<<"e">>, Size),
    Run = fun(Id) ->
                  rand:seed(exsss, {Id, 3, 5}),
                  [begin
                       Key = rand:uniform(tuple_size(Ring)),
                       P = element(Key, Ring),
                       ReqRef = make_ref(),
                       T0 = erlang:monotonic_time(microsecond),
                       send_key(Via, P, Key, {echo, self(), ReqRef, Key, Data}),
                       await_replies(ReqRef, 1),
                       erlang:monotonic_time(microsecond) - T0
                   end || _ <- lists:seq(1, Ops)]
          end,
    run_clients(N, Run, TimeoutMs).

run_clients(N, Run, TimeoutMs) ->
    Parent = self(),
    T0 = erlang:monotonic_time(microsecond),
    Pids = [spawn_link(fun() -> Parent ! {client_done, self(), Run(Id)} end)
            || Id <- lists:seq(1, N)],
    collect(Pids, T0, erlang:monotonic_time(millisecond) + TimeoutMs, []).

collect([], T0, _Deadline, Acc) ->
    {ok, max(1, erlang:monotonic_time(microsecond) - T0), lists:sort(lists:append(Acc))};
collect(Pids, T0, Deadline, Acc) ->
    Wait = max(0, Deadline - erlang:monotonic_time(millisecond)),
    receive
        {client_done, Pid, Lat} -> collect(lists:delete(Pid, Pids), T0, Deadline, [Lat | Acc])
    after Wait ->
            [begin unlink(P), exit(P, kill) end || P <- Pids],
            {error, timeout}
    end.

preference_list(Ring, Key, Replicas) ->
    Size = tuple_size(Ring),
    First = erlang:phash2(Key, Size),
    [element((First + I) rem Size + 1, Ring) || I <- lists:seq(0, Replicas - 1)].

await_replies(_ReqRef, 0) -> ok;
await_replies(ReqRef, K) ->
    receive {reply, ReqRef, _} -> await_replies(ReqRef, K - 1)
    after 30000 -> exit(kv_timeout)
    end.

%% Late answers of earlier quorum requests (the replicas beyond R or W),
%% dropped before each request so that the mailbox stays short.
flush_stale() ->
    receive {reply, _, _} -> flush_stale()
    after 0 -> ok
    end.
