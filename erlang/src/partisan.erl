%% @doc The public API of partisan: cluster membership and message
%% forwarding between BEAM nodes through their C-nodes, without
%% Distributed Erlang between the BEAM nodes.
%%
%% Every BEAM node runs the `partisan' application, which starts a C-node
%% beside it. Nodes form a cluster with {@link join/1}, giving the
%% {@link node_spec/0} of a node already in it. Messages go with
%% {@link forward_message/4} (or {@link cast_message/4} for a
%% `gen_server' cast); they are sent straight from the calling process to
%% the local C-node, which carries them to the C-node of the destination,
%% which delivers them.
%%
%% Messages from one process to one destination on one channel arrive in
%% the order they were sent (unless a `partition_key' spreads them over
%% several connections of the channel); messages with the same
%% `partition_key' on one channel arrive in the order they were sent.
%%
%% Channels are configured in the application environment (see
%% {@link partisan_config}); {@link channels/0} lists them,
%% {@link connections/0} and {@link stats/0} show their connections and
%% traffic per peer.
%%
%% The topology is chosen in the application environment (`topology':
%% `full_mesh', `static', `client_server' or `peer_to_peer'; see
%% {@link partisan_config}); the same calls work on each:
%% <ul>
%% <li>`full_mesh': every node connects to every member; membership is a
%%     CRDT gossiped every `gossip_interval' ms to `gossip_fanout' peers.</li>
%% <li>`static': a node connects only to its configured `static_peers'
%%     and reconnects when a connection drops; {@link join/1} and
%%     {@link leave/0} and {@link leave/1} return `{error, not_supported}'.</li>
%% <li>`client_server': each node is a `server' or a `client' (`role').
%%     Servers connect to all servers, clients only to servers. On a
%%     client {@link members/0} shows the servers (and itself), on a server
%%     every node. A client joining another client is redirected by the
%%     C-node to the servers. A message from a client to another client is
%%     relayed by a server: such messages are not ordered; messages
%%     between a client and a server are.</li>
%% <li>`peer_to_peer': HyParView. Each node links to a small active view
%%     (`max_active_size', 6) and knows a larger passive view
%%     (`max_passive_size', 30) that replaces failed neighbours;
%%     {@link members/0} is this node and its active view,
%%     {@link views/0} shows both views. A message for a node that is no
%%     neighbour is relayed hop by hop (at most `max_hops') along routes
%%     learned from the nodes' periodic announcements; see the README for
%%     what that means for ordering.</li>
%% </ul>
%% {@link broadcast/4} reaches every node of the cluster under each
%% topology (Plumtree where links are partial).
%%
%% Failure detection: a peer whose connections drop, or that does not
%% answer heartbeats within `heartbeat_timeout' ms (a hung C-node), is
%% reported down. {@link on_up/2}, {@link on_down/2} and
%% {@link monitor_nodes/1} notify of nodes coming up and going down.
-module(partisan).

%% Over 400 lines on purpose: one job (the public API). Most of the length
%% is its edoc and specs; each call hands its work to the server or C-node
%% link that does it (partisan_cnode, partisan_members, partisan_monitor).

%% Over 400 lines on purpose: one job (the public API), a third of it the
%% edoc users read; its option and node-spec parsing serve only it.

-include("partisan_internal.hrl").

-export([node_spec/0,
         join/1,
         leave/0,
         leave/1,
         members/0,
         member/1,
         unreachable/0,
         on_up/2,
         on_down/2,
         monitor_nodes/1,
         channels/0,
         connections/0,
         stats/0,
         status/0,
         forward_message/3,
         forward_message/4,
         forward_message/5,
         cast_message/3,
         cast_message/4,
         cast_message/5,
         broadcast/2,
         broadcast/4,
         views/0]).

-export_type([node_spec/0,
              listen_addr/0,
              channel/0,
              channel_spec/0,
              channel_stats/0,
              server_ref/0,
              forward_opts/0,
              forward_error/0,
              node_callback/0,
              node_event_info/0]).

-type channel() :: atom().
-type listen_addr() :: #{ip := inet:ip_address(), port := inet:port_number()}.
%% `durable' is in the channels this node configures (node_spec/0,
%% status/0); a channel_mismatch reply may lack it.
-type channel_spec() :: #{parallelism := pos_integer(), monotonic := boolean(),
                          durable => boolean()}.
%% What node_spec/0 returns; join/1 needs only `name' and `listen_addrs'.
-type node_spec() :: #{name := node(),
                       listen_addrs := [listen_addr()],
                       channels => #{channel() => channel_spec()}}.
-type channel_stats() :: #{connections := non_neg_integer(),
                           messages_sent := non_neg_integer(),
                           bytes_sent := non_neg_integer(),
                           messages_received := non_neg_integer(),
                           bytes_received := non_neg_integer(),
                           queued_bytes := non_neg_integer(),
                           dropped := non_neg_integer(),
                           reconnects := non_neg_integer()}.
%% Counters of one channel to and from one peer, as the local C-node
%% keeps them: `connections' is the number of established outgoing
%% connections (at most the channel's parallelism); `queued_bytes' the
%% bytes waiting to be written; `dropped' the messages shed (replaced on a
%% monotonic channel, or over the queue bound while disconnected);
%% `reconnects' how often a connection was established again after it
%% was lost.
-type server_ref() :: pid() | atom() | {atom(), node()}.
-type forward_opt() :: {channel, channel()}
                     | {partition_key, term()}
                     | {ack, false}
                     | {transitive, false}.
-type forward_opts() :: #{channel => channel(),
                          partition_key => term(),
                          ack => false,
                          transitive => false}
                      | [forward_opt()].
-type forward_error() :: not_running
                       | {too_large, Bytes :: pos_integer(), Limit :: pos_integer()}
                       | {unknown_node, term()}
                       | {unknown_channel, term()}
                       | {bad_option, term()}
                       | {unsupported_option, ack | transitive}
                       | {bad_server_ref, term()}.

-type node_event_info() :: #{event := up | down, channels := [channel()]}.
%% What a callback of arity 2 gets besides the node: the event and the
%% configured channels (a node comes up and goes down with all its
%% channels: the C-node reports nodes, not single connections).
-type node_callback() :: fun(() -> term())
                       | fun((node()) -> term())
                       | fun((node(), node_event_info()) -> term()).

-define(DEFAULT_CHANNEL, undefined).
-define(KEY_RANGE, 134217728).
%% '$fwd' flags: bit 0, the key is a partition_key (pinned to its connection).
-define(FLAG_PARTITION_KEY, 1).

%%====================================================================
%% Membership
%%====================================================================

%% @doc This node's spec, to give to {@link join/1} on another node:
%% its name, the addresses its C-node listens on and its channels.
-spec node_spec() -> node_spec() | {error, not_running}.
node_spec() ->
    partisan_cnode:node_spec().

%% @doc Joins the cluster of the node described by `NodeSpec' (as returned
%% by {@link node_spec/0} on that node, or `{Node, Ip, Port}').
%%
%% Returns once the local C-node is connected to that node; the other
%% members show in {@link members/0} once connections to them are
%% established (full mesh: by gossip). Under `client_server', a client
%% joining a client is redirected by the C-node to the servers that
%% client knows. Under `static' the peers are configured, not joined:
%% the answer is `{error, not_supported}'. A node that configures other
%% channels is refused with `{error, {channel_mismatch, Node, #{local =>
%% Channels, remote => Channels}}}', one with another secret with
%% `{error, {refused, Node, Why}}'. After a restart of its C-node, a node
%% rejoins the cluster by itself (unless it left).
-spec join(node_spec() | {node(), inet:ip_address() | string(), inet:port_number()}) ->
          ok | {error, self_join | not_supported | not_running | timeout |
                {bad_node_spec, term()} | term()}.
join(NodeSpec) ->
    case parse_node_spec(NodeSpec) of
        {ok, Node, _Addrs} when Node =:= node() ->
            {error, self_join};
        {ok, Node, Addrs} ->
            partisan_cnode:control({join, Node, Addrs});
        error ->
            {error, {bad_node_spec, NodeSpec}}
    end.

%% @doc Makes this node leave the cluster. Afterwards
%% {@link members/0} is `[node()]'. A node that left is not brought
%% back by gossip; it may join again. `{error, not_supported}' under the
%% `static' topology.
-spec leave() -> ok | {error, not_supported | not_running | timeout | term()}.
leave() ->
    %% A node that left must not rejoin by itself after a C-node restart.
    partisan_rejoin:forget(),
    partisan_cnode:control(leave).

%% @doc Removes a node (a node name or a node spec) from the cluster.
%% `leave(node())' is {@link leave/0}. `{error, not_supported}' under the
%% `static' topology.
-spec leave(node() | node_spec()) ->
          ok | {error, not_supported | not_running | timeout | {unknown_node, node()} |
                {bad_node_spec, term()} | term()}.
leave(Node) when Node =:= node() ->
    leave();
leave(Node) when is_atom(Node) ->
    partisan_cnode:control({leave, Node});
leave(#{name := Node}) when is_atom(Node) ->
    leave(Node);
leave({Node, _Ip, _Port}) when is_atom(Node) ->
    leave(Node);
leave(Other) ->
    {error, {bad_node_spec, Other}}.

%% @doc The members of the cluster as this node sees them (the nodes its
%% C-node is connected to), sorted; always includes `node()'. Under
%% `client_server' a client sees the servers, a server every node.
%% {@link forward_message/4} may also reach nodes that are not listed
%% (a client reaches other clients through a server).
-spec members() -> [node()].
members() ->
    partisan_members:members().

%% @doc The members this node links to but cannot reach now, with how
%% long: `unreachable' while its connections are retried (up to every
%% 5 s), `down' once it has been unreachable for `down_after' ms (then it
%% is only probed, every `down_after' ms and at most once a minute; a live
%% node marked down refutes it and comes back). `leave(Node)' removes one
%% for good.
-spec unreachable() -> #{node() => #{status := unreachable | down,
                                     for_ms := non_neg_integer()}}
                     | {error, not_running | timeout | term()}.
unreachable() ->
    case partisan_cnode:control(unreachable) of
        {ok, Nodes} when is_map(Nodes) -> Nodes;
        {error, _} = Error -> Error;
        Other -> {error, {bad_reply, Other}}
    end.

%% @doc Whether `Node' is a member (see {@link members/0}).
-spec member(node()) -> boolean().
member(Node) ->
    partisan_members:is_member(Node).

%% @doc Runs `Fun' each time `Node' (or, with `any', any node) comes up:
%% it became reachable through the local C-node (joined, or connected
%% again after a failure).
%%
%% `Fun' takes no argument, the node, or the node and a
%% {@type node_event_info()} map (`#{event => up, channels => [...]}').
%% Each call runs in a new process, so `Fun' may block; a crash is
%% logged (a crash report) and harms nothing else. A node already up
%% when `Fun' is registered does not trigger it. Registrations last until
%% the application stops (they survive restarts of the C-node). Bad
%% arguments raise `badarg'.
-spec on_up(node() | any, node_callback()) -> ok | {error, not_running}.
on_up(Node, Fun) ->
    check_callback(Node, Fun),
    partisan_monitor:on_up(Node, Fun).

%% @doc Runs `Fun' each time `Node' (or, with `any', any node) goes down:
%% its connections dropped, it did not answer heartbeats within
%% `heartbeat_timeout' ms, it left, or the local C-node stopped. As
%% {@link on_up/2} otherwise (an arity 2 fun gets
%% `#{event => down, channels => [...]}').
-spec on_down(node() | any, node_callback()) -> ok | {error, not_running}.
on_down(Node, Fun) ->
    check_callback(Node, Fun),
    partisan_monitor:on_down(Node, Fun).

%% @doc Subscribes the calling process to node status messages, as
%% `net_kernel:monitor_nodes/1' does for Distributed Erlang: after
%% `monitor_nodes(true)' it gets `{nodeup, Node}' when a node comes up
%% and `{nodedown, Node}' when it goes down (see {@link on_up/2} and
%% {@link on_down/2} for when). Each call with `true' adds a subscription
%% (and a copy of each message); `false' ends all the caller's
%% subscriptions, as does the caller's exit. Nodes already up are not
%% announced. Returns `error' for a flag that is not a boolean.
-spec monitor_nodes(boolean()) -> ok | error | {error, not_running}.
monitor_nodes(Flag) when is_boolean(Flag) ->
    partisan_monitor:monitor_nodes(Flag, self());
monitor_nodes(_) ->
    error.

%% @doc The names of the configured channels (always includes the
%% default channel `undefined').
-spec channels() -> [channel()].
channels() ->
    %% Published by partisan_cnode until the application stops; read from
    %% the environment only when partisan is not running.
    case persistent_term:get(?CHANNELS_KEY, undefined) of
        undefined ->
            case partisan_config:load() of
                {ok, Config} -> lists:sort(maps:keys(partisan_config:channels(Config)));
                {error, _} -> [?DEFAULT_CHANNEL]
            end;
        Channels ->
            lists:sort(maps:keys(Channels))
    end.

%% @doc The number of established outgoing connections of every channel
%% to every peer the local C-node has links to (at most the channel's
%% parallelism; a peer that is fully connected shows the parallelism of
%% each channel). From {@link stats/0}.
-spec connections() -> #{node() => #{channel() => non_neg_integer()}}
                     | {error, not_running | timeout | term()}.
connections() ->
    case stats() of
        Stats when is_map(Stats) ->
            maps:map(fun(_Node, Channels) ->
                             maps:map(fun(_Channel, #{connections := N}) -> N end, Channels)
                     end, Stats);
        {error, _} = Error ->
            Error
    end.

%% @doc Traffic counters of the local C-node per peer and channel (see
%% {@type channel_stats()}): messages and bytes sent and received, bytes
%% queued, messages dropped, reconnections. Peers this node has links to
%% or connections from are included, and so are those it counted anything
%% for; one it no longer links to or hears from, with nothing counted, is
%% left out (peer-to-peer nodes link to many others for a while only).
-spec stats() -> #{node() => #{channel() => channel_stats()}}
               | {error, not_running | timeout | term()}.
stats() ->
    case partisan_cnode:control(stats) of
        {ok, Stats} when is_map(Stats) -> Stats;
        {error, _} = Error -> Error;
        Other -> {error, {bad_reply, Other}}
    end.

%% @doc Status of the local C-node: its node name, OS pid, listen
%% addresses, topology, channels, and the node name of its BEAM link of
%% each channel (`links'; these are the hidden nodes this BEAM is
%% connected to).
-spec status() -> #{cnode := node(),
                    os_pid := non_neg_integer() | undefined,
                    listen_addrs := [listen_addr()],
                    topology := atom(),
                    channels := #{channel() => channel_spec()},
                    links := #{channel() => node()}}
                | {error, not_running}.
status() ->
    partisan_cnode:status().

%%====================================================================
%% Messages
%%====================================================================

%% @equiv forward_message(Node, ServerRef, Msg, #{})
-spec forward_message(node(), server_ref(), term()) -> ok | {error, forward_error()}.
forward_message(Node, ServerRef, Msg) ->
    forward_message(Node, ServerRef, Msg, #{}).

%% @doc Sends `Msg' to `ServerRef' on `Node' through partisan.
%%
%% `ServerRef' is a pid (on `Node'), a registered name, or
%% `{Name, Node}'. `Opts' (a map or a proplist):
%% <ul>
%% <li>`channel': the channel to use (default `undefined').</li>
%% <li>`partition_key': picks the connection of the channel (an integer
%%     `K' gives connection `abs(K) rem Parallelism'; other terms are
%%     hashed). Messages with the same key on one channel stay in order;
%%     they wait for their connection when it is down. Without it, the
%%     sending process picks the connection, so that one process's
%%     messages stay in order; while that connection is down they go on a
%%     live one of the same channel.</li>
%% <li>`ack', `transitive': only `false' for now.</li>
%% </ul>
%% When `Node' is this node, `Msg' is sent locally. Delivery is
%% asynchronous: `ok' means the message was handed to the local C-node.
%% On a monotonic channel a message may replace an earlier one to the
%% same destination that was still queued.
%% A channel that is not configured gives `{error, {unknown_channel, C}}';
%% a message whose external size is over `max_message_size' gives
%% `{error, {too_large, Bytes, Limit}}' (the size is measured with
%% `erlang:external_size/1', which walks the term but copies nothing).
-spec forward_message(node(), server_ref(), term(), forward_opts()) ->
          ok | {error, forward_error()}.
forward_message(Node, ServerRef, Msg, Opts) ->
    case parse_opts(Opts) of
        {ok, Channel, PartitionKey} ->
            send(Node, Channel, PartitionKey, ServerRef, Msg);
        {error, _} = Error ->
            Error
    end.

%% @doc As {@link forward_message/4} on channel `Channel' (which overrides
%% a `channel' in `Opts').
-spec forward_message(node(), channel(), server_ref(), term(), forward_opts()) ->
          ok | {error, forward_error()}.
forward_message(Node, Channel, ServerRef, Msg, Opts) ->
    case parse_opts(Opts) of
        {ok, _, PartitionKey} when is_atom(Channel) ->
            send(Node, Channel, PartitionKey, ServerRef, Msg);
        {ok, _, _} ->
            {error, {bad_option, {channel, Channel}}};
        {error, _} = Error ->
            Error
    end.

%% @equiv cast_message(Node, ServerRef, Msg, #{})
-spec cast_message(node(), server_ref(), term()) -> ok | {error, forward_error()}.
cast_message(Node, ServerRef, Msg) ->
    forward_message(Node, ServerRef, {'$gen_cast', Msg}).

%% @doc As {@link forward_message/4} with `{'$gen_cast', Msg}': a
%% `gen_server:cast/2' through partisan.
-spec cast_message(node(), server_ref(), term(), forward_opts()) ->
          ok | {error, forward_error()}.
cast_message(Node, ServerRef, Msg, Opts) ->
    forward_message(Node, ServerRef, {'$gen_cast', Msg}, Opts).

%% @doc As {@link forward_message/5} with `{'$gen_cast', Msg}'.
-spec cast_message(node(), channel(), server_ref(), term(), forward_opts()) ->
          ok | {error, forward_error()}.
cast_message(Node, Channel, ServerRef, Msg, Opts) ->
    forward_message(Node, Channel, ServerRef, {'$gen_cast', Msg}, Opts).

%%====================================================================
%% Broadcast and views
%%====================================================================

%% @equiv broadcast(undefined, ServerRef, Msg, #{})
-spec broadcast(atom(), term()) -> ok | {error, forward_error()}.
broadcast(ServerRef, Msg) ->
    broadcast(?DEFAULT_CHANNEL, ServerRef, Msg, #{}).

%% @doc Delivers `Msg' once to the process registered as `ServerRef' on
%% every node of the cluster, this one included, under every topology:
%% full mesh sends it straight to each member; the others push it along a
%% Plumtree broadcast tree over their links (eager push to tree
%% neighbours, lazy IHAVE to the rest, GRAFT to repair), so it also
%% reaches nodes this node has no link to. Delivery is asynchronous and
%% best effort: a node that is unreachable while the message travels
%% misses it. `Channel' picks the BEAM link it is delivered on at each
%% node; no options are taken yet (`Opts' must be empty).
-spec broadcast(channel(), atom(), term(), forward_opts()) -> ok | {error, forward_error()}.
broadcast(Channel, ServerRef, Msg, Opts) when is_atom(Channel), is_atom(ServerRef),
                                              (Opts =:= #{} orelse Opts =:= []) ->
    Size = erlang:external_size(Msg),
    case persistent_term:get(?MAX_SIZE_KEY, infinity) of
        Limit when Size > Limit ->
            {error, {too_large, Size, Limit}};
        _ ->
            case partisan_cnode:control({broadcast, Channel, ServerRef, Msg}) of
                ok -> ok;
                {error, unknown_channel} -> {error, {unknown_channel, Channel}};
                {error, _} = Error -> Error
            end
    end;
broadcast(Channel, ServerRef, _Msg, Opts) when is_atom(Channel), is_atom(ServerRef) ->
    {error, {bad_option, Opts}};
broadcast(Channel, ServerRef, _Msg, _Opts) when is_atom(Channel) ->
    {error, {bad_server_ref, ServerRef}};
broadcast(Channel, _ServerRef, _Msg, _Opts) ->
    {error, {bad_option, {channel, Channel}}}.

%% @doc The peer-to-peer views of this node: `active' (the neighbours it
%% links to) and `passive' (known nodes that replace a failed neighbour).
%% Under the other topologies `active' is the members this node links to
%% and `passive' is empty.
-spec views() -> #{active := [node()], passive := [node()]} | {error, not_running | timeout | term()}.
views() ->
    case partisan_cnode:control(views) of
        {ok, #{active := _, passive := _} = Views} -> Views;
        {error, _} = Error -> Error;
        Other -> {error, {bad_reply, Other}}
    end.

%%====================================================================
%% Internal
%%====================================================================

%% The hot path: one persistent_term get, an ETS lookup, the send.
send(Node, Channel, PartitionKey, ServerRef, Msg) ->
    case server_ref(Node, ServerRef) of
        {ok, Ref} when Node =:= node() ->
            case persistent_term:get(?CHANNELS_KEY, undefined) of
                #{Channel := _} -> local_send(Ref, Msg);
                undefined -> local_send(Ref, Msg);
                _ -> {error, {unknown_channel, Channel}}
            end;
        {ok, Ref} ->
            remote_send(Node, Channel, PartitionKey, Ref, Msg);
        error ->
            {error, {bad_server_ref, ServerRef}}
    end.

local_send(Ref, Msg) ->
    try
        Ref ! Msg
    catch
        error:badarg -> ok    % no such registered name: dropped, as remotely
    end,
    ok.

remote_send(Node, Channel, PartitionKey, Ref, Msg) ->
    case persistent_term:get(?LINKS_KEY, undefined) of
        #{Channel := Link} ->
            case partisan_members:is_reachable(Node) of
                true ->
                    send_sized(Link, Node, Channel, PartitionKey, Ref, Msg);
                false ->
                    {error, {unknown_node, Node}}
            end;
        undefined ->
            {error, not_running};
        _ ->
            {error, {unknown_channel, Channel}}
    end.

%% A message over the C-node's limit is refused here: sent on, it would
%% only be dropped there, after `ok'.
send_sized(Link, Node, Channel, PartitionKey, Ref, Msg) ->
    Size = erlang:external_size(Msg),
    case persistent_term:get(?MAX_SIZE_KEY, infinity) of
        Limit when Size > Limit ->
            {error, {too_large, Size, Limit}};
        _ ->
            Fwd = case PartitionKey of
                      none ->
                          {'$fwd', Node, Channel, erlang:phash2(self()), 0, Ref, Msg};
                      {value, K} ->
                          {'$fwd', Node, Channel, key(K), ?FLAG_PARTITION_KEY, Ref, Msg}
                  end,
            case erlang:send({?CNODE_PROCESS, Link}, Fwd, [noconnect]) of
                ok -> ok;
                noconnect -> {error, not_running}
            end
    end.

check_callback(Node, Fun) when is_atom(Node), is_function(Fun, 0);
                               is_atom(Node), is_function(Fun, 1);
                               is_atom(Node), is_function(Fun, 2) ->
    ok;
check_callback(_, _) ->
    erlang:error(badarg).

key(K) when is_integer(K) ->
    abs(K) rem ?KEY_RANGE;
key(K) ->
    erlang:phash2(K).

server_ref(Node, Pid) when is_pid(Pid), node(Pid) =:= Node ->
    {ok, Pid};
server_ref(_Node, Pid) when is_pid(Pid) ->
    error;
server_ref(_Node, Name) when is_atom(Name) ->
    {ok, Name};
server_ref(Node, {Name, Node}) when is_atom(Name) ->
    {ok, Name};
server_ref(_Node, _) ->
    error.

parse_opts(Opts) when Opts =:= #{}; Opts =:= [] ->
    {ok, ?DEFAULT_CHANNEL, none};
parse_opts(Opts) when is_map(Opts) ->
    parse_opts(maps:to_list(Opts), ?DEFAULT_CHANNEL, none);
parse_opts(Opts) when is_list(Opts) ->
    parse_opts(Opts, ?DEFAULT_CHANNEL, none);
parse_opts(Opts) ->
    {error, {bad_option, Opts}}.

parse_opts([], Channel, Key) ->
    {ok, Channel, Key};
parse_opts([{channel, C} | Rest], _, Key) when is_atom(C) ->
    parse_opts(Rest, C, Key);
parse_opts([{partition_key, K} | Rest], Channel, _) ->
    parse_opts(Rest, Channel, {value, K});
parse_opts([{Flag, false} | Rest], Channel, Key) when Flag =:= ack; Flag =:= transitive ->
    parse_opts(Rest, Channel, Key);
parse_opts([{Flag, true} | _], _, _) when Flag =:= ack; Flag =:= transitive ->
    {error, {unsupported_option, Flag}};
parse_opts([Flag | _], _, _) when Flag =:= ack; Flag =:= transitive ->
    {error, {unsupported_option, Flag}};
parse_opts([Other | _], _, _) ->
    {error, {bad_option, Other}};
parse_opts(Improper, _, _) ->
    {error, {bad_option, Improper}}.

parse_node_spec(#{name := Node, listen_addrs := Addrs}) when is_atom(Node) ->
    parse_addrs(Node, Addrs);
parse_node_spec({Node, Ip, Port}) when is_atom(Node) ->
    parse_addrs(Node, [{Ip, Port}]);
parse_node_spec(_) ->
    error.

%% No addresses: a node reached through a broker (pubsub); the C-node
%% answers {error, {no_address, Node}} under the other topologies.
parse_addrs(Node, Addrs) when is_list(Addrs) ->
    try
        {ok, Node, [parse_addr(A) || A <- Addrs]}
    catch
        throw:bad_addr -> error
    end;
parse_addrs(_, _) ->
    error.

parse_addr(#{ip := Ip, port := Port}) ->
    parse_addr({Ip, Port});
parse_addr({Ip, Port}) when is_integer(Port), Port > 0, Port =< 65535 ->
    {parse_ip(Ip), Port};
parse_addr(_) ->
    throw(bad_addr).

%% As partisan_config's ip/1 (not exported), but throwing bad_addr.
parse_ip(Ip) when is_tuple(Ip) ->
    case inet:ntoa(Ip) of
        {error, _} -> throw(bad_addr);
        _ -> Ip
    end;
parse_ip(Ip) when is_list(Ip) ->
    case catch inet:parse_strict_address(Ip) of
        {ok, Addr} -> Addr;
        _ -> throw(bad_addr)
    end;
parse_ip(Ip) when is_binary(Ip) ->
    parse_ip(binary_to_list(Ip));
parse_ip(_) ->
    throw(bad_addr).
