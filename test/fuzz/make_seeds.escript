#!/usr/bin/env escript
%% Writes the seed corpora of the fuzz targets whose inputs are our own
%% formats (test/fuzz/corpus/<target>/): well-formed examples of every
%% frame, packet and request, so each fuzzer starts at the interesting
%% boundaries. The ETF targets' seeds are kept by hand.
%%   escript test/fuzz/make_seeds.escript [CorpusDir]
-mode(compile).

main(Args) ->
    Dir = case Args of
              [D] -> D;
              [] -> filename:join(filename:dirname(escript:script_name()), "corpus")
          end,
    Seeds = [{"fuzz_control_request", control_requests()},
             {"fuzz_shim_packet", shim_packets()},
             {"fuzz_peer_frames", peer_frames()},
             {"fuzz_gossip", [gossip_body(E) || E <- gossip_sets()]},
             {"fuzz_handshake", handshakes()},
             {"fuzz_frame_buffer", frame_streams()},
             {"fuzz_plumtree", plumtree_inputs()},
             {"fuzz_hyparview", hyparview_inputs()}],
    [write(Dir, Target, N, Bin) || {Target, Bins} <- Seeds,
                                   {N, Bin} <- lists:zip(lists:seq(1, length(Bins)), Bins)],
    ok.

write(Dir, Target, N, Bin) ->
    File = filename:join([Dir, Target, "seed-" ++ integer_to_list(N)]),
    ok = filelib:ensure_dir(File),
    ok = file:write_file(File, Bin).

%% A term's external format without the version byte.
body(T) ->
    <<131, B/binary>> = term_to_binary(T, [{minor_version, 2}]),
    B.

pid() -> c:pid(0, 42, 0).

control_requests() ->
    [body(T) || T <- [members, stats, unreachable, leave, {leave, 'b@host'},
                      {join, 'b@host', [{{127, 0, 0, 1}, 4000}]},
                      {join, 'b@host', [{{0, 0, 0, 0, 0, 0, 0, 1}, 4000}, {{10, 0, 0, 2}, 1}]},
                      {fault, heal}, {fault, partition, ['b@host', 'c@host']},
                      {fault, partition, []}, {fault, close_link, 'b@host', undefined, 0},
                      {join, self, []}, {unknown, op}]].

%% 112, control term, message (each with its version byte).
packet(Control, Msg) ->
    <<112, (term_to_binary(Control))/binary, (term_to_binary(Msg))/binary>>.

shim_packets() ->
    [packet({6, pid(), '', partisan}, {'$fwd', 'b@host', undefined, 7, 0, server, {hello, [1, 2.5, <<"x">>]}}),
     packet({6, pid(), '', partisan}, {'$fwd', 'b@host', vnode, 1, 1, pid(), #{a => 1}}),
     packet({2, '', pid()}, {'$call', pid(), make_ref(), {join, 'b@host', [{{127, 0, 0, 1}, 4000}]}}),
     packet({2, '', pid()}, {'$call', pid(), make_ref(), members}),
     packet({2, '', pid()}, {{'$partisan_probe', 3}, yes}),
     packet({2, '', pid()}, {{'$partisan_whereis', 9}, undefined}),
     <<112, (term_to_binary({1, pid(), pid()}))/binary>>,  % LINK: ignored
     <<112, 131>>].

message_frame(Ref, Payload) ->
    R = body(Ref),
    <<1, (byte_size(R)):16, R/binary, (body(Payload))/binary>>.

peer_frames() ->
    [message_frame(server, {hello, <<"x">>}),
     message_frame(pid(), [1, 2, 3]),
     <<5, 6, "b@host", (binary:part(message_frame(server, ok), 1, byte_size(message_frame(server, ok)) - 1))/binary>>,
     <<2, (gossip_body([{<<"b@host">>, 1, 0, [{<<"127.0.0.1">>, 4000}]}]))/binary>>,
     <<3>>, <<4>>].

gossip_sets() ->
    [[{<<"a@host">>, 7, 0, [{<<"127.0.0.1">>, 4000}]}],
     [{<<"a@host">>, 1, 1, []}, {<<"b@host">>, 2, 2, [{<<"::1">>, 5}]},
      {<<"c@host">>, 3, 0, [{<<"10.0.0.1">>, 1}, {<<"10.0.0.2">>, 2}]}],
     []].

%% Membership encoding 2: count, then per entry name, incarnation,
%% status, role, addresses.
gossip_body(Entries) ->
    iolist_to_binary([<<2, (length(Entries)):32>> |
                      [[<<(byte_size(N)), N/binary, Inc:64, Status, 0, (length(As))>>,
                        [<<(byte_size(Ip)), Ip/binary, Port:16>> || {Ip, Port} <- As]]
                       || {N, Inc, Status, As} <- Entries]]).

%% [u16 n][n bytes] per frame body.
frames(Bodies) ->
    iolist_to_binary([<<(byte_size(B)):16, B/binary>> || B <- Bodies]).

str(B) -> <<(byte_size(B)), B/binary>>.

handshakes() ->
    Digest = crypto:hash(sha256, <<"undefined:1">>),
    Hello = <<16#10, 2:16, (str(<<"a@host">>))/binary, (str(<<"b@host">>))/binary,
              (str(<<"undefined">>))/binary, 0:16, Digest/binary, 0:128>>,
    Challenge = <<16#11, 2:16, (str(<<"b@host">>))/binary, 0:128>>,
    Response = <<16#12, 0:256>>,
    Refuse = <<16#14, 3, 11:16, "undefined:1", 0:256>>,
    [<<0, (frames([Hello, Response]))/binary>>,
     <<1, (frames([Challenge, <<16#13, 0:256>>]))/binary>>,
     <<1, (frames([Refuse]))/binary>>,
     <<1, (frames([<<16#14, 1, 0:16>>]))/binary>>,
     <<2, (frames([Response]))/binary>>,
     <<3, 0, 0, 5, 1>>, <<3, 1, 0, 20, 128>>, <<3, 2, 0, 0, 255>>].

%% [u8 limit selector] then chunks [u8 n][n bytes].
frame_streams() ->
    Stream = iolist_to_binary([<<(byte_size(B)):32, B/binary>>
                               || B <- [<<"a">>, <<>>, binary:copy(<<"x">>, 300), <<"end">>]]),
    [<<3, (chunks(Stream, 7))/binary>>, <<2, (chunks(Stream, 200))/binary>>,
     <<1, (chunks(<<0:32, 0:32>>, 3))/binary>>].

chunks(<<>>, _) -> <<>>;
chunks(Bin, N) when byte_size(Bin) =< N -> <<(byte_size(Bin)), Bin/binary>>;
chunks(Bin, N) ->
    <<Chunk:N/binary, Rest/binary>> = Bin,
    <<N, Chunk/binary, (chunks(Rest, N))/binary>>.

%% Plumtree frame bodies (plumtree_frames.hpp): [7][kind][fields].
pt_id(Origin, Seq) -> <<(byte_size(Origin)), Origin/binary, Seq:64>>.
pt_gossip(Origin, Seq, Round, Payload) ->
    <<7, 1, (pt_id(Origin, Seq))/binary, Round:16, (byte_size(Payload)):32, Payload/binary>>.
pt_ihave(Ids) ->
    <<7, 2, (length(Ids)):16, (iolist_to_binary([[pt_id(O, S), <<R:16>>] || {O, S, R} <- Ids]))/binary>>.
pt_graft(Origin, Seq, Round) -> <<7, 3, (pt_id(Origin, Seq))/binary, Round:16>>.
pt_prune() -> <<7, 4>>.

%% fuzz_plumtree's records: [u8 op], op's low 3 bits what, bits 3-4 the
%% peer (0 a@h, 1 b@h, 2 c@h, 3 the node itself).
pt_frame(Peer, Body) -> <<((Peer bsl 3) + 0), (byte_size(Body)):16, Body/binary>>.
pt_up(Peer) -> <<((Peer bsl 3) + 4)>>.
pt_down(Peer) -> <<((Peer bsl 3) + 5)>>.
pt_tick(N) -> <<6, N>>.
pt_broadcast(Size) -> <<((Size bsl 3) + 7)>>.

plumtree_inputs() ->
    Ups = [pt_up(0), pt_up(1), pt_up(2)],
    [%% A GOSSIP, its duplicate (PRUNE), our own broadcasts, IHAVE flushes.
     iolist_to_binary([Ups, pt_frame(0, pt_gossip(<<"o@h">>, 1, 0, <<"hello">>)),
                       pt_frame(1, pt_gossip(<<"o@h">>, 1, 1, <<"hello">>)),
                       pt_broadcast(3), pt_tick(5), pt_broadcast(0), pt_tick(5)]),
     %% IHAVEs from a lazy peer, GRAFTs after the timeout, the message late.
     iolist_to_binary([Ups, pt_frame(1, pt_prune()),
                       pt_frame(1, pt_ihave([{<<"o@h">>, 1, 0}, {<<"o@h">>, 2, 1}])),
                       pt_frame(2, pt_ihave([{<<"o@h">>, 2, 3}])),
                       pt_tick(11), pt_tick(6), pt_frame(0, pt_gossip(<<"o@h">>, 2, 1, <<"late">>)),
                       pt_frame(1, pt_graft(<<"o@h">>, 2, 2)), pt_down(2), pt_tick(20)]),
     %% GRAFTs answered from the cache and after it expired.
     iolist_to_binary([Ups, pt_broadcast(10), pt_broadcast(20), pt_frame(0, pt_prune()),
                       pt_frame(0, pt_graft(<<"self@h">>, 1, 0)), pt_tick(60),
                       pt_frame(0, pt_graft(<<"self@h">>, 2, 0)), pt_down(0), pt_tick(120)]),
     %% Every kind from a stranger and from the node itself.
     iolist_to_binary([pt_up(0), pt_frame(2, pt_gossip(<<"o@h">>, 9, 4, <<>>)),
                       pt_frame(2, pt_ihave([{<<"o@h">>, 10, 0}])), pt_frame(2, pt_graft(<<"o@h">>, 9, 0)),
                       pt_frame(3, pt_gossip(<<"o@h">>, 9, 4, <<>>)), pt_frame(3, pt_prune()), pt_tick(1)]),
     %% A flood past the limits.
     iolist_to_binary([Ups | [[pt_frame(N rem 3, pt_gossip(<<"f@h">>, N, N rem 7, binary:copy(<<"z">>, N))),
                               pt_frame((N + 1) rem 3, pt_ihave([{<<"i@h">>, N * 10 + K, K} || K <- lists:seq(1, 5)])),
                               pt_tick(N rem 4)]
                              || N <- lists:seq(1, 20)]])].

%% HyParView (fuzz_hyparview.cpp): records [peer][u16 n][frame body] and
%% one-byte events; peers 0..3 are a@host..d@host, the node is self@host.
hv_node(Name) -> hv_node(Name, [{<<"127.0.0.1">>, 4000}]).
hv_node(Name, As) ->
    iolist_to_binary([str(Name), length(As), [[str(Ip), <<Port:16>>] || {Ip, Port} <- As]]).
hv_sample(Names) -> [length(Names), [hv_node(N) || N <- Names]].

hv_frame(join, [N]) -> [1, hv_node(N)];
hv_frame(forward_join, [N, Ttl]) -> [2, hv_node(N), Ttl];
hv_frame(neighbor, [N, High]) -> [3, hv_node(N), High];
hv_frame(neighbor_reply, [N, Accepted]) -> [4, hv_node(N), Accepted];
hv_frame(disconnect, []) -> [5];
hv_frame(shuffle, [Origin, Ttl, Id, Sample]) -> [6, hv_node(Origin), Ttl, <<Id:32>>, hv_sample(Sample)];
hv_frame(shuffle_reply, [Id, Sample]) -> [7, <<Id:32>>, hv_sample(Sample)].

hv(Peer, Kind, Args) ->
    Body = iolist_to_binary([6 | hv_frame(Kind, Args)]),
    <<Peer, (byte_size(Body)):16, Body/binary>>.

hv_event(link_up, N) -> <<(16#80 bor N)>>;
hv_event(link_down, N) -> <<(16#A0 bor N)>>;
hv_event(tick, N) -> <<(16#B0 bor N)>>;
hv_event(join, N) -> <<(16#C0 bor N)>>;
hv_event(leave, _) -> <<16#DF>>.

hyparview_inputs() ->
    [A, B, C, D] = [<<"a@host">>, <<"b@host">>, <<"c@host">>, <<"d@host">>],
    Up = << <<(hv_event(link_up, N))/binary>> || N <- lists:seq(0, 3) >>,
    Ticks = << <<(hv_event(tick, 15))/binary>> || _ <- lists:seq(1, 4) >>,
    [iolist_to_binary(Parts) || Parts <-
        [%% the contact of joiners
         [hv(0, join, [A]), Up, hv(1, join, [B]), Up, hv(2, join, [C]), Up, hv(3, join, [D]), Up, Ticks],
         %% NEIGHBOR requests until full, then refused and forced
         [hv(0, neighbor, [A, 1]), hv(1, neighbor, [B, 0]), hv(2, neighbor, [C, 0]), Up,
          hv(3, neighbor, [D, 0]), hv(3, neighbor, [D, 1]), Up],
         %% forward joins at every ttl, and one naming this node
         [hv(0, neighbor, [A, 1]), hv(1, neighbor, [B, 1]), Up,
          hv(0, forward_join, [<<"e@host">>, 6]), hv(0, forward_join, [<<"f@host">>, 3]),
          hv(1, forward_join, [<<"g@host">>, 0]), hv(1, forward_join, [<<"self@host">>, 2]), Up],
         %% shuffles ending here and walking on; this node's own shuffles
         [hv(0, neighbor, [A, 1]), Up,
          hv(0, shuffle, [<<"o@host">>, 0, 1, [<<"o@host">>, <<"p@host">>, <<"q@host">>, <<"r@host">>]]),
          Up, hv(1, neighbor, [B, 1]), Up,
          hv(1, shuffle, [<<"o@host">>, 5, 2, [<<"o@host">>, <<"s@host">>]]), Ticks, Up, Ticks,
          hv(2, shuffle_reply, [1, [<<"t@host">>, <<"u@host">>]])],
         %% joining through a contact, failures, promotion, leave
         [hv_event(join, 0), Up, hv(1, neighbor, [B, 1]), Up,
          hv(0, shuffle, [A, 0, 3, [C, D]]), hv_event(link_down, 0), Up,
          hv(2, neighbor_reply, [C, 0]), hv(3, neighbor_reply, [D, 1]), Ticks, Up, Ticks,
          hv(1, disconnect, []), Ticks, hv_event(leave, 0)],
         %% one frame of each kind
         [hv(0, disconnect, [])],
         [hv(0, neighbor_reply, [A, 1])],
         [hv(0, shuffle_reply, [7, []])]]].
