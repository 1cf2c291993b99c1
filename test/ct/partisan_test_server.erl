%% Helpers loaded on the peer nodes of partisan_SUITE: a small gen_server
%% that answers through partisan, a sequence collector, and functions the
%% suite runs on a peer with peer:call/5.
-module(partisan_test_server).
-behaviour(gen_server).

%% gen_server
-export([start/0, casts/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

%% run on a peer by the suite
-export([roundtrip/4,
         cast_roundtrip/3,
         fidelity_terms/0,
         digest/1,
         start_seq_collector/0,
         seq_result/0,
         send_seq/3,
         start_event_collector/0,
         events/0,
         register_sink/1]).

-define(SEQ, partisan_test_seq).
-define(EVENTS, partisan_test_events).

%%--------------------------------------------------------------------
%% The server (registered as partisan_test_server)
%%--------------------------------------------------------------------

start() ->
    case gen_server:start({local, ?MODULE}, ?MODULE, [], []) of
        {ok, Pid} -> {ok, Pid};
        {error, {already_started, Pid}} -> {ok, Pid}
    end.

%% The casts the server handled, oldest first.
casts() ->
    gen_server:call(?MODULE, casts).

init([]) ->
    {ok, []}.

handle_call(casts, _From, Casts) ->
    {reply, lists:reverse(Casts), Casts}.

handle_cast({ping, ReplyNode, ReplyTo, Tag} = Msg, Casts) ->
    ok = partisan:forward_message(ReplyNode, ReplyTo, {pong, Tag, node()}),
    {noreply, [Msg | Casts]};
handle_cast(Msg, Casts) ->
    {noreply, [Msg | Casts]}.

handle_info({echo, ReplyNode, ReplyTo, Tag, Term}, State) ->
    Reply = {echo_reply, Tag, node(), Term, digest(Term)},
    ok = partisan:forward_message(ReplyNode, ReplyTo, Reply),
    {noreply, State};
handle_info(_Msg, State) ->
    {noreply, State}.

%%--------------------------------------------------------------------
%% Run on the sending peer
%%--------------------------------------------------------------------

%% Sends Term to an echo server on Node with the API call How, waits for
%% the echo (sent back through partisan to this process). Returns
%% {ok, #{from, same, digest_ok}} or {error, Reason}.
roundtrip(Node, How, Term, Timeout) ->
    Tag = make_ref(),
    Msg = {echo, node(), self(), Tag, Term},
    case send(Node, How, Msg) of
        ok ->
            receive
                {echo_reply, Tag, From, Back, Digest} ->
                    {ok, #{from => From,
                           same => Back =:= Term,
                           digest_ok => Digest =:= digest(Term)}}
            after Timeout ->
                    {error, timeout}
            end;
        Error ->
            Error
    end.

send(Node, {fwd3, Ref}, Msg) ->
    partisan:forward_message(Node, Ref, Msg);
send(Node, {fwd4, Ref, Opts}, Msg) ->
    partisan:forward_message(Node, Ref, Msg, Opts);
send(Node, {fwd5, Channel, Ref, Opts}, Msg) ->
    partisan:forward_message(Node, Channel, Ref, Msg, Opts);
send(Node, {ps3, Ref}, Msg) ->
    partisan_peer_service:forward_message(Node, Ref, Msg);
send(Node, {ps4, Ref, Opts}, Msg) ->
    partisan_peer_service:forward_message(Node, Ref, Msg, Opts).

%% Casts {ping, ...} to the test server on Node with the API call How
%% (cast3 | cast4 | cast5) and waits for its pong.
cast_roundtrip(Node, How, Timeout) ->
    Tag = make_ref(),
    Ping = {ping, node(), self(), Tag},
    Result = case How of
                 cast3 -> partisan:cast_message(Node, ?MODULE, Ping);
                 cast4 -> partisan:cast_message(Node, {?MODULE, Node}, Ping, [{channel, undefined}]);
                 cast5 -> partisan:cast_message(Node, undefined, ?MODULE, Ping, #{});
                 ps_cast4 -> partisan_peer_service:cast_message(Node, ?MODULE, Ping, #{})
             end,
    case Result of
        ok ->
            receive
                {pong, Tag, From} -> {ok, From, Ping}
            after Timeout ->
                    {error, timeout}
            end;
        Error ->
            Error
    end.

%% Terms whose fidelity the suite checks, built on the sending node.
fidelity_terms() ->
    Captured = {captured, node(), 42},
    LocalFun = fun(X) -> {X, Captured} end,
    Nested = #{list => [1, 2.5, -3.25e100, "string", <<"bin">>, <<1:3>>],
               tuple => {a, {b, {c, []}}, 'quoted atom ü'},
               big => 1 bsl 200, neg_big => -(1 bsl 130) + 7,
               float => 3.141592653589793,
               map => #{#{k => v} => [x | y], {1, 2} => <<>>},
               unicode => <<"héllo wörld"/utf8>>},
    [{nested, Nested},
     {pid, self()},
     {ref, make_ref()},
     {port, hd(erlang:ports())},
     {export_fun, fun erlang:node/0},
     {local_fun, LocalFun},
     {all, {Nested, self(), make_ref(), fun erlang:node/0, LocalFun}}].

digest(Term) ->
    erlang:md5(term_to_binary(Term, [deterministic])).

%%--------------------------------------------------------------------
%% Ordering
%%--------------------------------------------------------------------

%% A registered process counting {seq, I} messages, remembering the first
%% one out of order.
start_seq_collector() ->
    catch exit(whereis(?SEQ), kill),
    Parent = self(),
    Pid = spawn(fun() ->
                        register(?SEQ, self()),
                        Parent ! {?SEQ, ready},
                        seq_loop(1, ok)
                end),
    receive {?SEQ, ready} -> {ok, Pid} after 5000 -> {error, timeout} end.

seq_loop(Next, Status) ->
    receive
        {seq, Next} ->
            seq_loop(Next + 1, Status);
        {seq, Other} when Status =:= ok ->
            seq_loop(Next + 1, {out_of_order, #{expected => Next, got => Other}});
        {seq, _} ->
            seq_loop(Next + 1, Status);
        {result, From} ->
            From ! {?SEQ, Next - 1, Status},
            seq_loop(Next, Status)
    end.

%% {Received, ok | {out_of_order, ...}}
seq_result() ->
    ?SEQ ! {result, self()},
    receive {?SEQ, Count, Status} -> {Count, Status} after 5000 -> {error, timeout} end.

%% Sends {seq, 1..N} to the collector on Node from one process.
send_seq(Node, N, Opts) ->
    send_seq(Node, 1, N, Opts).

send_seq(_Node, I, N, _Opts) when I > N ->
    ok;
send_seq(Node, I, N, Opts) ->
    case partisan:forward_message(Node, ?SEQ, {seq, I}, Opts) of
        ok -> send_seq(Node, I + 1, N, Opts);
        Error -> {error, I, Error}
    end.

%%--------------------------------------------------------------------
%% Node events and plain sinks
%%--------------------------------------------------------------------

%% A registered process subscribed with partisan:monitor_nodes(true),
%% keeping the {nodeup | nodedown, Node} messages it gets, oldest first.
start_event_collector() ->
    catch exit(whereis(?EVENTS), kill),
    Parent = self(),
    Pid = spawn(fun() ->
                        register(?EVENTS, self()),
                        ok = partisan:monitor_nodes(true),
                        Parent ! {?EVENTS, ready},
                        events_loop([])
                end),
    receive {?EVENTS, ready} -> {ok, Pid} after 5000 -> {error, timeout} end.

events_loop(Events) ->
    receive
        {get, From} ->
            From ! {?EVENTS, lists:reverse(Events)},
            events_loop(Events);
        Event ->
            events_loop([Event | Events])
    end.

events() ->
    ?EVENTS ! {get, self()},
    receive {?EVENTS, Events} -> Events after 5000 -> {error, timeout} end.

%% A process registered as Name that keeps (and ignores) what it gets.
register_sink(Name) ->
    Parent = self(),
    spawn(fun() ->
                  register(Name, self()),
                  Parent ! {Name, ready},
                  receive stop -> ok end
          end),
    receive {Name, ready} -> ok after 5000 -> {error, timeout} end.
