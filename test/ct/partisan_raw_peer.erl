%% A C-node peer written by hand, for tests that must speak the wire
%% protocol (docs/PROTOCOL.md) the way an attacker or a broken peer would:
%% raw handshake frames, an authenticated connection that then sends
%% whatever a test wants, floods of idle, slow or garbage connections; a
%% listener that completes the acceptor's side of the handshake, so that a
%% C-node links to this peer (as a peer-to-peer neighbour) and the test
%% sees the frames it sends; HYPARVIEW and PLUMTREE frame bodies.
-module(partisan_raw_peer).

-export([connect/3,
         hello/4,
         authenticate/6,
         send_frame/2,
         recv_frame/2,
         message_frame/2,
         gossip_frame/1,
         challenge_size/1,
         start_flood/4,
         stop_flood/1,
         ping/2,
         listen/3,
         stop_listener/1,
         node_ref/2,
         hv_join/1,
         hv_forward_join/2,
         hv_neighbor/2,
         hv_disconnect/0,
         hv_shuffle/4,
         hv_shuffle_reply/2,
         pt_gossip/3,
         pt_ihave/1,
         pt_graft/2,
         pt_prune/0,
         user_broadcast/3]).

-define(HELLO, 16#10).
-define(CHALLENGE, 16#11).
-define(RESPONSE, 16#12).
-define(ACCEPT, 16#13).
-define(REFUSE, 16#14).
-define(VERSION, 3).
-define(PING, 3).
-define(PONG, 4).
-define(HYPARVIEW, 6).
-define(PLUMTREE, 7).

%% A connection to Ip:Port from the source address Src (`any' for the
%% default one), framed with a 4-byte length as the protocol is.
-spec connect(inet:ip_address(), inet:port_number(), inet:ip_address() | any) ->
          {ok, gen_tcp:socket()} | {error, term()}.
connect(Ip, Port, Src) ->
    Opts = [binary, {active, false}, {packet, 4}, {nodelay, true}]
        ++ case Src of any -> []; _ -> [{ip, Src}] end,
    gen_tcp:connect(Ip, Port, Opts, 5000).

%% The HELLO frame body of node Self for Target (channel undefined/0),
%% with the digest of the channel spec Spec and a nonce.
-spec hello(binary(), binary(), binary(), binary()) -> binary().
hello(Self, Target, Spec, Nonce) ->
    <<?HELLO, ?VERSION:16, (str(Self))/binary, (str(Target))/binary, (str(<<"undefined">>))/binary,
      0:16, (crypto:hash(sha256, Spec))/binary, Nonce/binary>>.

%% The size of a CHALLENGE body from a node named Target: type, version,
%% name, nonce, and nothing else.
-spec challenge_size(binary()) -> pos_integer().
challenge_size(Target) ->
    1 + 2 + 1 + byte_size(Target) + 16.

%% Completes the handshake as Self towards Target with Secret, offering
%% the channel spec Spec (e.g. <<"undefined:1">>). Returns the open,
%% authenticated connection.
-spec authenticate(inet:ip_address(), inet:port_number(), binary(), binary(), binary(), binary()) ->
          {ok, gen_tcp:socket()} | {error, term()}.
authenticate(Ip, Port, Self, Target, Secret, Spec) ->
    {ok, S} = connect(Ip, Port, any),
    NonceD = crypto:strong_rand_bytes(16),
    ok = gen_tcp:send(S, hello(Self, Target, Spec, NonceD)),
    case gen_tcp:recv(S, 0, 5000) of
        {ok, <<?CHALLENGE, ?VERSION:16, NL, Target:NL/binary, NonceA:16/binary>>} ->
            T = <<(str(Self))/binary, (str(Target))/binary, (str(<<"undefined">>))/binary, 0:16,
                  (crypto:hash(sha256, Spec))/binary, NonceD/binary, NonceA/binary>>,
            MacD = crypto:mac(hmac, sha256, Secret, <<"partisan-v3-dialer", 0, T/binary>>),
            ok = gen_tcp:send(S, <<?RESPONSE, MacD/binary>>),
            MacA = crypto:mac(hmac, sha256, Secret, <<"partisan-v3-acceptor", 0, T/binary>>),
            case gen_tcp:recv(S, 0, 5000) of
                {ok, <<?ACCEPT, MacA/binary>>} -> {ok, S};
                Other -> gen_tcp:close(S), {error, {no_accept, Other}}
            end;
        Other ->
            gen_tcp:close(S),
            {error, {no_challenge, Other}}
    end.

-spec send_frame(gen_tcp:socket(), iodata()) -> ok | {error, term()}.
send_frame(S, Body) ->
    gen_tcp:send(S, Body).

-spec recv_frame(gen_tcp:socket(), timeout()) -> {ok, binary()} | {error, term()}.
recv_frame(S, Timeout) ->
    gen_tcp:recv(S, 0, Timeout).

%% A MESSAGE frame body: destination and payload as external-format bytes
%% without the version byte.
-spec message_frame(binary(), binary()) -> binary().
message_frame(Ref, Payload) ->
    <<1, (byte_size(Ref)):16, Ref/binary, Payload/binary>>.

%% A GOSSIP frame body naming Entries: [{Name, Incarnation, Ip, Port}].
-spec gossip_frame([{binary(), non_neg_integer(), binary(), inet:port_number()}]) -> binary().
gossip_frame(Entries) ->
    Body = [<<(str(Name))/binary, Inc:64, 0, 0, 1, (str(Ip))/binary, Port:16>>
            || {Name, Inc, Ip, Port} <- Entries],
    iolist_to_binary([<<2, 2, (length(Entries)):32>> | Body]).

%% N connections to Ip:Port from the source addresses Srcs (round robin),
%% each idle, slow (a byte of a hello every 400 ms) or sending garbage,
%% reconnecting 200 ms after the other side closes. Returns a handle.
-spec start_flood(inet:ip_address(), inet:port_number(), [inet:ip_address()], pos_integer()) -> pid().
start_flood(Ip, Port, Srcs, N) ->
    Parent = self(),
    spawn(fun() ->
                  process_flag(trap_exit, true),
                  Kinds = [idle, slow, garbage],
                  Workers = [spawn_link(fun() ->
                                                flood_worker(Ip, Port, lists:nth(I rem length(Srcs) + 1, Srcs),
                                                             lists:nth(I rem 3 + 1, Kinds))
                                        end) || I <- lists:seq(1, N)],
                  Parent ! {flood_started, self()},
                  receive stop -> [exit(W, kill) || W <- Workers] end
          end).

-spec stop_flood(pid()) -> ok.
stop_flood(Flood) ->
    Flood ! stop,
    ok.

flood_worker(Ip, Port, Src, Kind) ->
    case connect(Ip, Port, Src) of
        {ok, S} ->
            ok = inet:setopts(S, [{packet, raw}]),
            flood_behave(S, Kind),
            gen_tcp:close(S);
        {error, _} ->
            ok
    end,
    timer:sleep(200),
    flood_worker(Ip, Port, Src, Kind).

flood_behave(S, idle) ->
    {error, _} = gen_tcp:recv(S, 0);  % until the other side closes
flood_behave(S, slow) ->
    Hello = hello(<<"slow@127.0.0.1">>, <<"x@y">>, <<"undefined:1">>, crypto:strong_rand_bytes(16)),
    drip(S, <<(byte_size(Hello)):32, Hello/binary>>);
flood_behave(S, garbage) ->
    case gen_tcp:send(S, crypto:strong_rand_bytes(64 + rand:uniform(512))) of
        ok -> _ = gen_tcp:recv(S, 0, 2000), ok;
        {error, _} -> ok
    end.

drip(_S, <<>>) ->
    ok;
drip(S, <<B, Rest/binary>>) ->
    case gen_tcp:send(S, <<B>>) of
        ok -> timer:sleep(400), drip(S, Rest);
        {error, _} -> ok
    end.

str(B) ->
    <<(byte_size(B)), B/binary>>.

%%--------------------------------------------------------------------
%% A peer that stays connected: heartbeats, and a listener
%%--------------------------------------------------------------------

%% PING on a connection this peer dialed; the acceptor answers PONG at
%% once, so `ok' proves that the frames sent before were read and that the
%% connection is still open. Other frames that arrive first are skipped.
-spec ping(gen_tcp:socket(), timeout()) -> ok | {error, term()}.
ping(S, Timeout) ->
    case gen_tcp:send(S, <<?PING>>) of
        ok -> wait_pong(S, Timeout);
        Error -> Error
    end.

wait_pong(S, Timeout) ->
    case gen_tcp:recv(S, 0, Timeout) of
        {ok, <<?PONG>>} -> ok;
        {ok, _Other} -> wait_pong(S, Timeout);
        Error -> Error
    end.

%% Listens on 127.0.0.1 (a free port) as node Self with Secret: answers
%% every dialer's handshake as a C-node's acceptor does (any channel and
%% index), then answers its PINGs with PONGs and sends every other frame
%% to Owner as {raw_peer_frame, Self, Dialer, Channel, Index, Body}.
%% Returns {ok, Port, Listener}.
-spec listen(binary(), binary(), pid()) -> {ok, inet:port_number(), pid()}.
listen(Self, Secret, Owner) ->
    Parent = self(),
    Ref = make_ref(),
    Pid = spawn(fun() ->
                        {ok, L} = gen_tcp:listen(0, [binary, {active, false}, {packet, 4},
                                                     {ip, {127, 0, 0, 1}}, {nodelay, true}]),
                        {ok, Port} = inet:port(L),
                        Parent ! {Ref, Port},
                        %% A handler that fails does not take the listener
                        %% along; killing the listener takes the handlers.
                        process_flag(trap_exit, true),
                        accept_loop(L, Self, Secret, Owner)
                end),
    receive {Ref, Port} -> {ok, Port, Pid} after 5000 -> exit(Pid, kill), error(listen_timeout) end.

%% Closes the listener and every connection it accepted.
-spec stop_listener(pid()) -> ok.
stop_listener(Pid) ->
    MRef = erlang:monitor(process, Pid),
    exit(Pid, kill),
    receive {'DOWN', MRef, process, Pid, _} -> ok end.

accept_loop(L, Self, Secret, Owner) ->
    {ok, S} = gen_tcp:accept(L),
    Handler = spawn_link(fun() -> receive {go, S} -> accepted(S, Self, Secret, Owner) end end),
    ok = gen_tcp:controlling_process(S, Handler),
    Handler ! {go, S},
    accept_loop(L, Self, Secret, Owner).

accepted(S, Self, Secret, Owner) ->
    case gen_tcp:recv(S, 0, 5000) of
        {ok, <<?HELLO, ?VERSION:16, DL, Dialer:DL/binary, AL, Self:AL/binary, CL, Channel:CL/binary,
               Index:16, Digest:32/binary, NonceD:16/binary>>} ->
            NonceA = crypto:strong_rand_bytes(16),
            ok = gen_tcp:send(S, <<?CHALLENGE, ?VERSION:16, (str(Self))/binary, NonceA/binary>>),
            T = <<(str(Dialer))/binary, (str(Self))/binary, (str(Channel))/binary, Index:16,
                  Digest/binary, NonceD/binary, NonceA/binary>>,
            MacD = crypto:mac(hmac, sha256, Secret, <<"partisan-v3-dialer", 0, T/binary>>),
            {ok, <<?RESPONSE, MacD:32/binary>>} = gen_tcp:recv(S, 0, 5000),
            MacA = crypto:mac(hmac, sha256, Secret, <<"partisan-v3-acceptor", 0, T/binary>>),
            ok = gen_tcp:send(S, <<?ACCEPT, MacA/binary>>),
            serve(S, Self, Dialer, binary_to_atom(Channel), Index, Owner);
        _ ->
            gen_tcp:close(S)
    end.

serve(S, Self, Dialer, Channel, Index, Owner) ->
    case gen_tcp:recv(S, 0) of
        {ok, <<?PING>>} ->
            _ = gen_tcp:send(S, <<?PONG>>),
            serve(S, Self, Dialer, Channel, Index, Owner);
        {ok, Body} ->
            Owner ! {raw_peer_frame, Self, Dialer, Channel, Index, Body},
            serve(S, Self, Dialer, Channel, Index, Owner);
        {error, _} ->
            gen_tcp:close(S)
    end.

%%--------------------------------------------------------------------
%% HYPARVIEW (type 6) and PLUMTREE (type 7) frame bodies
%%--------------------------------------------------------------------

%% A node on the wire: name and addresses [{Ip, Port}] (Ip a binary).
-spec node_ref(binary(), [{binary(), inet:port_number()}]) -> binary().
node_ref(Name, Addrs) ->
    iolist_to_binary([str(Name), length(Addrs) | [[str(Ip), <<Port:16>>] || {Ip, Port} <- Addrs]]).

hv_join(Node) -> <<?HYPARVIEW, 1, Node/binary>>.
hv_forward_join(Node, Ttl) -> <<?HYPARVIEW, 2, Node/binary, Ttl>>.
hv_neighbor(Node, Flag) -> <<?HYPARVIEW, 3, Node/binary, Flag>>.
hv_disconnect() -> <<?HYPARVIEW, 5>>.

%% Sample: a list of node_ref/2 binaries, its count as given.
hv_shuffle(Origin, Ttl, Id, Sample) ->
    iolist_to_binary([<<?HYPARVIEW, 6, Origin/binary, Ttl, Id:32, (length(Sample))>> | Sample]).
hv_shuffle_reply(Id, Sample) ->
    iolist_to_binary([<<?HYPARVIEW, 7, Id:32, (length(Sample))>> | Sample]).

%% An id is {Origin, Seq}.
pt_gossip({Origin, Seq}, Round, Payload) ->
    <<?PLUMTREE, 1, (str(Origin))/binary, Seq:64, Round:16, (byte_size(Payload)):32, Payload/binary>>.
%% Ids: [{{Origin, Seq}, Round}], their count as given.
pt_ihave(Ids) ->
    iolist_to_binary([<<?PLUMTREE, 2, (length(Ids)):16>>
                      | [<<(str(O))/binary, Seq:64, R:16>> || {{O, Seq}, R} <- Ids]]).
pt_graft({Origin, Seq}, Round) -> <<?PLUMTREE, 3, (str(Origin))/binary, Seq:64, Round:16>>.
pt_prune() -> <<?PLUMTREE, 4>>.

%% A user broadcast's payload: channel, destination and message as
%% external-format bytes without the version byte.
user_broadcast(Channel, Ref, Msg) ->
    <<0, (str(Channel))/binary, (byte_size(Ref)):16, Ref/binary, Msg/binary>>.
