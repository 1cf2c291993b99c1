%% @doc Reads and validates the `partisan' application environment and
%% turns it into the C-node's command line.
%%
%% The limits and defaults of every key that is a C-node option are those
%% of the C-node's option table (c_src/core/config_schema.cpp), which the C-node
%% prints as the module `partisan_config_schema' (generated, committed,
%% checked against the binary by partisan_config_SUITE); `partisan_cnode
%% --help' lists them too. So this module accepts exactly the values the
%% C-node accepts. Integer and one-of keys need no code here: each is read,
%% checked and passed on as the schema says. Only the conversions that are
%% Erlang's own are written here (addresses, channel maps, node specs, the
%% secrets, the broker's `amqp' map) and the shim's own options
%% (`ready_timeout', those of `partisan_plumtree_broadcast').
%%
%% Keys:
%% <ul>
%% <li>`listen_ip': address the C-node's peer listener binds (a tuple or
%%     a string).</li>
%% <li>`listen_port': peer listener port, 0 picks a free one.</li>
%% <li>`advertise_ip' (`undefined'): address put in the node spec.</li>
%% <li>`advertise_port': port put in the node spec (e.g. a relay's
%%     or a NAT's port); 0 means the listen port.</li>
%% <li>`topology': `full_mesh' (every node connects to
%%     every member; membership is gossiped), `static' (a node connects
%%     only to its `static_peers'; `join' and `leave' return
%%     `{error, not_supported}'), `client_server' (servers connect to
%%     all servers, clients only to servers; see `role') or
%%     `peer_to_peer' (HyParView views, Plumtree broadcast, relayed
%%     messages; see the options below) or `pubsub' (every node talks
%%     through an AMQP 0-9-1 broker, see `amqp' and the `pubsub' options
%%     below).</li>
%% <li>`role': `server' or `client', this node's role under
%%     the `client_server' topology (ignored under the others).</li>
%% <li>`static_peers' (`[]'): the peers of the `static' topology, each a
%%     node spec as returned by `partisan:node_spec/0' (its first listen
%%     address is used) or `{Node, Ip, Port}'. An entry naming this node
%%     itself is skipped, so every node of a cluster can be given the same
%%     list. Ignored under the other topologies. Peers must listen on the
%%     configured port, so give them a fixed `listen_port'.</li>
%% <li>`heartbeat_interval': ms between pings on idle peer
%%     connections.</li>
%% <li>`heartbeat_timeout': ms of silence after which a peer
%%     connection is dropped and the peer reported down (a hung C-node);
%%     must exceed `heartbeat_interval'.</li>
%% <li>`connect_interval': ms between new outgoing connections to
%%     a peer beyond its first (rate limit on connections to a joining
%%     node); 0 disables the spacing.</li>
%% <li>`listen_backlog': the peer listener's listen queue
%%     length.</li>
%% <li>`max_pending_handshakes', `max_pending_per_address':
%%     connections to the listener that have not yet proven the
%%     cluster secret, at most in all (never more than a quarter of the
%%     C-node's file descriptors) and from one source address; past a
%%     bound the oldest of the address holding the most is closed.</li>
%% <li>`max_members': the most nodes membership holds; gossip
%%     naming more is not taken in beyond it.</li>
%% <li>`beam_timeout': ms this node's BEAM may go without
%%     answering its C-node's probes (stopped, hung) before the C-node
%%     drops its peer connections, so the others see this node down (as
%%     `net_ticktime' does for Distributed Erlang); it reconnects when the
%%     BEAM answers again. 0 disables the probes.</li>
%% <li>`down_after': ms a member may stay unreachable before
%%     it is marked down: then only its control connection is retried,
%%     every `down_after' ms (at most once a minute), so a healed partition
%%     still merges; {@link partisan:unreachable/0} lists it and
%%     `partisan:leave(Node)' removes it for good. A live node marked down
%%     refutes it. 0 disables it.</li>
%% <li>`channels' (`#{}'): `#{Name => #{parallelism => N, monotonic =>
%%     Bool, durable => Bool}}' (a map or a property list of options, each
%%     optional) or a list of channel names. The default channel
%%     `undefined' always exists. Parallelism within the bounds of
%%     `parallelism' (default: `parallelism'); `monotonic' (`false'): a
%%     newer message to a destination may replace one not yet sent;
%%     `durable' (`false'): under `pubsub' the channel's queues and
%%     messages survive a broker restart. At most `max_channels' channels
%%     (the default one included), names of at most
%%     `max_channel_name_bytes' bytes (`partisan_config_schema:limits()').
%%     Passed as `--channel NAME:P[:monotonic][:durable]'.</li>
%% <li>`parallelism': parallelism of channels that do not give one.</li>
%% <li>`gossip_interval': membership gossip period, ms.</li>
%% <li>`gossip_fanout': peers gossiped to per period.</li>
%% <li>`max_message_size': largest encoded message, bytes.</li>
%% <li>`peer_to_peer' options (HyParView; defaults as the paper and the
%%     original library): `max_active_size' (6) and `max_passive_size'
%%     (30), the views' bounds; `arwl' (6) and `prwl' (3), the random walk
%%     lengths of joins and shuffles (`arwl' must exceed `prwl');
%%     `shuffle_interval' (10000 ms), `shuffle_k_active' (3) and
%%     `shuffle_k_passive' (4), the passive view shuffle;
%%     `random_promotion_interval' (5000 ms), how often a node with room
%%     in its active view asks a passive node in; `announce_interval'
%%     (10000 ms), how often a node broadcasts its presence, from which
%%     the others learn their route to it.</li>
%% <li>Broadcast (Plumtree, every topology): `lazy_tick_period' (200 ms),
%%     the batching of IHAVE announcements; `graft_timeout' (1000 ms), the
%%     wait for an announced message before it is pulled;
%%     `broadcast_catch_up' (5000 ms, at most 30000), how far back a new
%%     neighbour is told of the broadcasts it may have missed.</li>
%% <li>`max_hops' (16): nodes a relayed message may pass.</li>
%% <li>`pubsub' options (integers, limits in the schema):
%%     `member_timeout' (30000 ms), a member not heard from this long is
%%     removed; `amqp_window_bytes' (64 MiB) and `amqp_window_messages'
%%     (100000), what a channel may have published that the broker has not
%%     confirmed yet; `amqp_prefetch' (512), deliveries per channel not yet
%%     acknowledged; `amqp_queue_expiry' (3600000 ms, 0: never), the broker
%%     deletes a node's queues unused this long. `announce_interval'
%%     applies to `pubsub' too.</li>
%% <li>`amqp' (`#{}'): the broker of the `pubsub' topology, a map whose
%%     keys are all optional: `host' (`"127.0.0.1"'; a DNS name or an
%%     address, printable ASCII without spaces, at most 253 bytes), `port'
%%     (5672; 1..65535), `vhost' (`"/"') and `user' (`"guest"'; each 1..255
%%     bytes of UTF-8, no NUL), and the password's source, at most one of
%%     `password_file => Path' (the file's bytes as they are, except that
%%     ONE trailing line end, LF or CR LF, is dropped: a file
%%     written by `echo' ends in one) and `password_env => VarName' (an OS
%%     environment variable, which must be set). Strings are lists or
%%     binaries. With neither source the C-node logs in with the password
%%     `guest' (RabbitMQ's default account). The password (1 to
%%     `max_secret_bytes' bytes, no NUL) is read at load time and goes on
%%     the C-node's stdin, never on its command line, in a log or in
%%     {@link redact/1}'s result. The map is checked under every topology,
%%     but passed to the C-node (`--amqp-host', `--amqp-port',
%%     `--amqp-vhost', `--amqp-user', the `amqp-password' stdin line) only
%%     under `pubsub'.</li>
%% <li>`cookie' (`erlang'): source of the cluster secret shared by the
%%     C-nodes: `erlang' (this node's cookie), `{file, Path}' (the first
%%     line of the file, without its line end) or a binary, string or atom
%%     literal. Taken byte for byte (any bytes, at most `max_secret_bytes');
%%     a secret shorter than 16 bytes is logged as a warning, since anyone
%%     who sees a handshake on the wire can try to guess it offline.</li>
%% <li>`cnode_log_level': debug, info, notice, warning or error.</li>
%% <li>`ready_timeout' (`10000'): ms to wait for the C-node to be ready
%%     (the shim's own; no C-node option).</li>
%% <li>Options of `partisan_plumtree_broadcast' (the shim's own, no C-node
%%     options; see {@link broadcast_options/0}): `broadcast_lazy_timer'
%%     (1000 ms), `broadcast_exchange_timer' (10000 ms),
%%     `broadcast_max_concurrent_exchanges' (1), `broadcast_mods' (`[]'),
%%     `broadcast_recent_size' (1000), `broadcast_recent_age' (60000 ms).</li>
%% </ul>
%%
%% Bad values give `{error, {bad_config, {Key, Value}}}'. Those of the
%% secrets' sources name the problem rather than echo what may be a
%% secret: `{cookie, empty | not_a_string | {too_long, Bytes, Max} |
%% {{file, Path}, Why}}', and `{amqp, Reason}' with Reason one of
%% <ul>
%% <li>`not_a_map', `{unknown_key, Key}';</li>
%% <li>`{host, Value}', `{port, Value}', `{vhost, Value}', `{user, Value}':
%%     a value outside the limits above;</li>
%% <li>`{password_file, Value}', `{password_env, Value}': not a file
%%     name, not a variable name;</li>
%% <li>`{both, password_file, password_env}': one source at most;</li>
%% <li>`{password_file, Path, Why}', `{password_env, VarName, Why}', where
%%     `Why' is the file's read error (`enoent', `eacces', `eisdir', ...),
%%     `unset' (the variable), `not_a_string', `empty', `nul_byte' or
%%     `{too_long, Bytes, Max}' (the password, without the value).</li>
%% </ul>
-module(partisan_config).

%% Over 400 lines on purpose: one job (application env to C-node argv);
%% the conversions that cannot come from the generated schema (addresses,
%% channels, node specs, secret sources) and their doc are here.

-export([load/0,
         broadcast_options/0,
         tree_repair_time/0,
         channels/1,
         cnode_args/3,
         secrets_input/2,
         redact/1,
         schema_options/0]).

-export_type([config/0, channels/0, channel_opts/0, topology/0, role/0, static_peer/0,
              broadcast_options/0, amqp/0]).

-type channel_opts() :: #{parallelism := pos_integer(),
                          monotonic := boolean(),
                          durable := boolean()}.
-type channels() :: #{atom() => channel_opts()}.
-type log_level() :: debug | info | notice | warning | error.
-type topology() :: full_mesh | static | client_server | peer_to_peer | pubsub.
-type role() :: server | client.
%% The broker of the pubsub topology; `password' is `undefined' when no
%% source was given (the C-node's default applies).
-type amqp() :: #{host := binary(),
                  port := inet:port_number(),
                  vhost := binary(),
                  user := binary(),
                  password := binary() | undefined}.
-type static_peer() :: {node(), inet:ip_address(), inet:port_number()}.
-type broadcast_options() :: #{broadcast_lazy_timer := pos_integer(),
                               broadcast_exchange_timer := pos_integer(),
                               broadcast_max_concurrent_exchanges := pos_integer(),
                               broadcast_mods := [module()],
                               broadcast_recent_size := pos_integer(),
                               broadcast_recent_age := pos_integer()}.
-type config() :: #{listen_ip := inet:ip_address(),
                    listen_port := inet:port_number(),
                    advertise_ip := inet:ip_address() | undefined,
                    advertise_port := inet:port_number(),
                    topology := topology(),
                    role := role(),
                    static_peers := [static_peer()],
                    heartbeat_interval := pos_integer(),
                    heartbeat_timeout := pos_integer(),
                    connect_interval := non_neg_integer(),
                    listen_backlog := pos_integer(),
                    max_pending_handshakes := pos_integer(),
                    max_pending_per_address := pos_integer(),
                    max_members := pos_integer(),
                    beam_timeout := non_neg_integer(),
                    down_after := non_neg_integer(),
                    channels := channels(),
                    explicit_channels := [atom()],
                    parallelism := pos_integer(),
                    gossip_interval := pos_integer(),
                    gossip_fanout := pos_integer(),
                    max_message_size := pos_integer(),
                    cluster_secret := binary(),
                    amqp := amqp(),
                    cnode_log_level := log_level(),
                    ready_timeout := pos_integer(),
                    %% and those of broadcast_options();
                    %% further options of the schema, under their env key
                    atom() => term()}.

-define(APP, partisan).
-define(DEFAULT_CHANNEL, undefined).
-define(SCHEMA, partisan_config_schema).
%% Schema options with an env key that cnode_args/3 places itself (the
%% others follow the channels, in the schema's order).
-define(PLACED, [listen_port, advertise_port, topology, role]).
%% The largest timer value the shim's own ms options take (as the
%% C-node's ms options).
-define(MAX_MS, 2147483647).
%% The most ids partisan_plumtree_broadcast keeps per handler: one digest
%% carries them all.
-define(MAX_RECENT, 100000).

%% @doc Reads the application environment and validates it. The cluster
%% secret is resolved too (this needs a distributed node when `cookie' is
%% `erlang').
-spec load() -> {ok, config()} | {error, not_distributed | {bad_config, {atom(), term()}}}.
load() ->
    try
        %% Every integer and one_of option, checked against the C-node's
        %% own limits, then the relations between them.
        Checked = maps:from_list([{Env, env(Env, Default, fun(V) -> check(O, V) end)}
                                  || #{env := Env, default := Default} = O <- schema_options()]),
        check_rules(Checked),
        {Channels, Explicit} = get_channels(maps:get(parallelism, Checked)),
        Config0 = Checked#{listen_ip => env(listen_ip, default(listen_ip), fun ip/1),
                          advertise_ip => env(advertise_ip, default(advertise_ip),
                                              fun optional_ip/1),
                          static_peers => env(static_peers, [], fun static_peers/1),
                          channels => Channels,
                          explicit_channels => Explicit,
                          amqp => amqp(application:get_env(?APP, amqp, #{})),
                          ready_timeout => env(ready_timeout, 10000, fun pos_int/1)},
        %% Not the C-node's, but a bad value must fail the start as clearly.
        Config = maps:merge(Config0, broadcast_env()),
        case cluster_secret(application:get_env(?APP, cookie, erlang)) of
            {ok, Secret} -> {ok, Config#{cluster_secret => Secret}};
            {error, _} = Error -> Error
        end
    catch
        throw:{bad_config, _} = Bad -> {error, Bad}
    end.

%% @doc The options of `partisan_plumtree_broadcast', the shim's own (no
%% C-node option; `load/0' checks them too, so a bad one fails the
%% start):
%% <ul>
%% <li>`broadcast_lazy_timer' (1000): ms between two digests of the
%%     recently delivered message ids (`{ihave, ...}') sent to a random
%%     member, which pulls what its handler lacks.</li>
%% <li>`broadcast_exchange_timer' (10000): ms between two rounds of
%%     anti-entropy exchanges (`Mod:exchange(Peer)').</li>
%% <li>`broadcast_max_concurrent_exchanges' (1): exchanges running at
%%     once, at most.</li>
%% <li>`broadcast_mods' (`[]'): the handler modules whose `exchange/1'
%%     is called.</li>
%% <li>`broadcast_recent_size' (1000, at most 100000): the message ids
%%     kept per handler for the digests (the newest).</li>
%% <li>`broadcast_recent_age' (60000): ms a message id stays in the
%%     digests.</li>
%% </ul>
%% The ms values go up to 2147483647. A bad value gives
%% `{error, {bad_config, {Key, Value}}}'.
-spec broadcast_options() -> {ok, broadcast_options()} | {error, {bad_config, {atom(), term()}}}.
broadcast_options() ->
    try
        {ok, broadcast_env()}
    catch
        throw:{bad_config, _} = Bad -> {error, Bad}
    end.

%% @doc The longest the C-node's Plumtree takes to repair a message its
%% tree did not push (ms): an IHAVE waits up to `lazy_tick_period', then
%% the GRAFT up to `graft_timeout'. The handler-level lazy repair of
%% `partisan_plumtree_broadcast' waits this long before announcing an
%% id, so that it does not race the tree. A bad value counts as its
%% default here ({@link load/0} refuses it).
-spec tree_repair_time() -> pos_integer().
tree_repair_time() ->
    lists:sum([schema_value(Env) || Env <- [lazy_tick_period, graft_timeout]]).

%% @doc The options of the C-node's schema that the shim reads from the
%% application env and checks generically: integer and one_of options
%% with an env key, in the schema's order.
-spec schema_options() -> [partisan_config_schema:option()].
schema_options() ->
    [O || #{env := Env, type := Type} = O <- ?SCHEMA:options(),
          Env =/= undefined, Type =:= integer orelse Type =:= one_of].

%% @doc The validated channel map of a configuration (always holds the
%% default channel `undefined').
-spec channels(config()) -> channels().
channels(#{channels := Channels}) ->
    Channels.

%% @doc The C-node's command line arguments (nothing secret in them).
-spec cnode_args(config(), BeamNode :: node(), CNodeName :: node()) -> [string()].
cnode_args(Config, BeamNode, CNodeName) ->
    #{listen_ip := ListenIp, listen_port := ListenPort, advertise_ip := AdvIp,
      advertise_port := AdvPort, topology := Topology,
      channels := Channels, explicit_channels := Explicit} = Config,
    ChannelArgs = lists:append([["--channel", channel_arg(Name, maps:get(Name, Channels))]
                                || Name <- lists:sort(Explicit)]),
    AdvArgs = case AdvIp of
                  undefined -> [];
                  _ -> ["--advertise-ip", inet:ntoa(AdvIp)]
              end ++
              case AdvPort of
                  0 -> [];
                  _ -> ["--advertise-port", integer_to_list(AdvPort)]
              end,
    %% The other options of the schema, as the schema names them.
    OptionArgs = lists:append([["--" ++ atom_to_list(Name), option_arg(maps:get(Env, Config))]
                               || #{name := Name, env := Env} <- schema_options(),
                                  not lists:member(Env, ?PLACED)]),
    ["--beam-node", atom_to_list(BeamNode),
     "--cnode-name", atom_to_list(CNodeName),
     "--listen-ip", inet:ntoa(ListenIp),
     "--listen-port", integer_to_list(ListenPort)]
        ++ AdvArgs ++
    ["--topology", atom_to_list(Topology)]
        ++ topology_args(Topology, Config, BeamNode)
        ++ ChannelArgs
        ++ OptionArgs.

option_arg(N) when is_integer(N) -> integer_to_list(N);
option_arg(A) when is_atom(A) -> atom_to_list(A).

%% `--role' under client_server; one `--static-peer NAME=IP:PORT' per
%% static peer (but this node) under static; the broker under pubsub (its
%% password goes on stdin).
topology_args(client_server, #{role := Role}, _) ->
    ["--role", atom_to_list(Role)];
topology_args(static, #{static_peers := StaticPeers}, BeamNode) ->
    lists:append([["--static-peer", static_peer_arg(P)]
                  || {Node, _, _} = P <- StaticPeers, Node =/= BeamNode]);
topology_args(pubsub, #{amqp := #{host := Host, port := Port, vhost := VHost, user := User}}, _) ->
    ["--amqp-host", binary_to_list(Host),
     "--amqp-port", integer_to_list(Port),
     "--amqp-vhost", unicode:characters_to_list(VHost),
     "--amqp-user", unicode:characters_to_list(User)];
topology_args(_FullMeshOrPeerToPeer, _, _) ->
    [].

static_peer_arg({Node, Ip, Port}) ->
    atom_to_list(Node) ++ "=" ++ inet:ntoa(Ip) ++ ":" ++ integer_to_list(Port).

%% @doc What the shim writes on the C-node's stdin right after opening the
%% port: the BEAM cookie, the cluster secret and, under `pubsub' when the
%% `amqp' map gives a password source, the broker password, hex-encoded
%% so that they arrive byte for byte, then `end' (docs/SHIM_INTERFACE.md).
-spec secrets_input(BeamCookie :: atom(), config()) -> iodata().
secrets_input(BeamCookie, #{cluster_secret := Secret} = Config) ->
    ["beam-cookie ", binary:encode_hex(atom_to_binary(BeamCookie, utf8)), "\n",
     "cluster-secret ", binary:encode_hex(Secret), "\n",
     case Config of
         #{topology := pubsub, amqp := #{password := Password}} when is_binary(Password) ->
             ["amqp-password ", binary:encode_hex(Password), "\n"];
         _ ->
             []
     end,
     "end\n"].

%% @doc The configuration without its secrets (the cluster secret, the
%% broker password), safe to log or keep in a process state.
-spec redact(config()) -> config().
redact(#{amqp := Amqp} = Config) ->
    Redacted = <<"<redacted>">>,
    Config#{cluster_secret => Redacted,
            amqp => case Amqp of
                        #{password := P} when is_binary(P) -> Amqp#{password := Redacted};
                        #{} -> Amqp    % no password given: nothing to hide
                    end}.

%%====================================================================
%% Internal
%%====================================================================

env(Key, Default, Validate) ->
    Value = application:get_env(?APP, Key, Default),
    case Validate(Value) of
        {ok, Valid} -> Valid;
        error -> throw({bad_config, {Key, Value}})
    end.

%% The value of a schema option under its env key, its default if bad.
schema_value(Env) ->
    [#{default := Default} = O] = [O || #{env := E} = O <- schema_options(), E =:= Env],
    try
        env(Env, Default, fun(V) -> check(O, V) end)
    catch
        throw:{bad_config, _} -> Default
    end.

pos_int(N) when is_integer(N), N > 0 -> {ok, N};
pos_int(_) -> error.

broadcast_env() ->
    #{broadcast_lazy_timer => env(broadcast_lazy_timer, 1000, fun ms/1),
      broadcast_exchange_timer => env(broadcast_exchange_timer, 10000, fun ms/1),
      broadcast_max_concurrent_exchanges =>
          env(broadcast_max_concurrent_exchanges, 1, fun pos_int/1),
      broadcast_mods => env(broadcast_mods, [], fun modules/1),
      broadcast_recent_size => env(broadcast_recent_size, 1000,
                                   fun(N) -> int(N, 1, ?MAX_RECENT) end),
      broadcast_recent_age => env(broadcast_recent_age, 60000, fun ms/1)}.

ms(N) -> int(N, 1, ?MAX_MS).

int(N, Min, Max) when is_integer(N), N >= Min, N =< Max -> {ok, N};
int(_, _, _) -> error.

%% A proper list of module names (duplicates dropped).
modules(Mods) when is_list(Mods) ->
    try lists:all(fun is_atom/1, Mods) of
        true -> {ok, lists:usort(Mods)};
        false -> error
    catch
        error:_ -> error    % an improper list
    end;
modules(_) ->
    error.

%% A value of a schema option: what the C-node accepts for it.
check(#{type := integer, min := Min, max := Max}, N)
  when is_integer(N), N >= Min, N =< Max ->
    {ok, N};
check(#{type := one_of, choices := Choices}, A) when is_atom(A) ->
    case lists:member(A, Choices) of
        true -> {ok, A};
        false -> error
    end;
check(_, _) ->
    error.

%% {greater, A, B}: A must exceed B; the error names A.
check_rules(Checked) ->
    Env = fun(Name) ->
                  [E] = [E || #{name := N, env := E} <- ?SCHEMA:options(), N =:= Name],
                  E
          end,
    [throw({bad_config, {Env(A), maps:get(Env(A), Checked)}})
     || {greater, A, B} <- ?SCHEMA:rules(),
        maps:get(Env(A), Checked) =< maps:get(Env(B), Checked)],
    ok.

%% The schema's default of an option the shim converts itself.
default(Env) ->
    [Default] = [D || #{env := E, default := D} <- ?SCHEMA:options(), E =:= Env],
    Default.

%% The default and the bounds of an option by its name (options the shim
%% sets without an env key of their own).
option_default(Name) ->
    [Default] = [D || #{name := N, default := D} <- ?SCHEMA:options(), N =:= Name],
    Default.

option_bounds(Name) ->
    [{Min, Max}] = [{Min, Max} || #{name := N, min := Min, max := Max} <- ?SCHEMA:options(),
                                  N =:= Name],
    {Min, Max}.

%% The bounds of an integer option, by env key.
bounds(Env) ->
    [{Min, Max}] = [{Min, Max} || #{env := E, min := Min, max := Max} <- ?SCHEMA:options(),
                                  E =:= Env],
    {Min, Max}.

limit(Name) ->
    maps:get(Name, ?SCHEMA:limits()).

ip(Ip) when is_tuple(Ip) ->
    case inet:ntoa(Ip) of
        {error, _} -> error;
        _ -> {ok, Ip}
    end;
ip(Ip) when is_list(Ip) ->
    case catch inet:parse_strict_address(Ip) of
        {ok, Addr} -> {ok, Addr};
        _ -> error
    end;
ip(Ip) when is_binary(Ip) ->
    ip(binary_to_list(Ip));
ip(_) ->
    error.

optional_ip(undefined) -> {ok, undefined};
optional_ip(Ip) -> ip(Ip).

%% [NodeSpec | {Node, Ip, Port}] -> [{Node, Ip, Port}] (first listen
%% address of a node spec), at most one entry per node.
static_peers(Peers) when is_list(Peers) ->
    try [static_peer(P) || P <- Peers] of
        Parsed ->
            Names = [N || {N, _, _} <- Parsed],
            case length(lists:usort(Names)) =:= length(Names) of
                true -> {ok, Parsed};
                false -> error
            end
    catch
        throw:bad_peer -> error
    end;
static_peers(_) ->
    error.

static_peer(#{name := Node, listen_addrs := [Addr | _]}) ->
    case Addr of
        #{ip := Ip, port := Port} -> static_peer({Node, Ip, Port});
        {Ip, Port} -> static_peer({Node, Ip, Port});
        _ -> throw(bad_peer)
    end;
static_peer({Node, Ip0, Port}) when is_atom(Node), is_integer(Port), Port > 0 ->
    {_, MaxPort} = bounds(listen_port),
    Port =< MaxPort orelse throw(bad_peer),
    Name = atom_to_list(Node),
    ValidName = length(string:split(Name, "@", all)) =:= 2
        andalso lists:all(fun(C) -> C > $\s andalso C =/= $= andalso C =/= 127 end, Name),
    case {ValidName, ip(Ip0)} of
        {true, {ok, Ip}} -> {Node, Ip, Port};
        _ -> throw(bad_peer)
    end;
static_peer(_) ->
    throw(bad_peer).

get_channels(Parallelism) ->
    Value = application:get_env(?APP, channels, #{}),
    Bad = fun() -> throw({bad_config, {channels, Value}}) end,
    Pairs = if
                is_map(Value) ->
                    maps:to_list(Value);
                is_list(Value) ->
                    [if is_atom(Name) -> {Name, #{}}; true -> Bad() end
                     || Name <- Value];
                true ->
                    Bad()
            end,
    Channels0 = [{Name, channel_opts(Name, Opts, Parallelism, Bad)}
                 || {Name, Opts} <- Pairs],
    Explicit = lists:usort([Name || {Name, _} <- Channels0]),
    length(Explicit) =:= length(Channels0) orelse Bad(),
    Default = #{parallelism => Parallelism, monotonic => false, durable => false},
    Channels = maps:merge(#{?DEFAULT_CHANNEL => Default}, maps:from_list(Channels0)),
    map_size(Channels) =< limit(max_channels) orelse Bad(),
    {Channels, Explicit}.

channel_opts(Name, Opts, Parallelism, Bad) when is_atom(Name), is_map(Opts) ->
    valid_channel_name(Name) orelse Bad(),
    [Bad() || K <- maps:keys(Opts), not lists:member(K, [parallelism, monotonic, durable])],
    P = maps:get(parallelism, Opts, Parallelism),
    M = maps:get(monotonic, Opts, false),
    D = maps:get(durable, Opts, false),
    {MinP, MaxP} = bounds(parallelism),
    is_integer(P) andalso P >= MinP andalso P =< MaxP orelse Bad(),
    is_boolean(M) andalso is_boolean(D) orelse Bad(),
    #{parallelism => P, monotonic => M, durable => D};
channel_opts(Name, Opts, Parallelism, Bad) when is_atom(Name), is_list(Opts) ->
    try maps:from_list(Opts) of
        Map -> channel_opts(Name, Map, Parallelism, Bad)
    catch
        error:_ -> Bad()
    end;
channel_opts(_, _, _, Bad) ->
    Bad().

%% Channel names go on the command line as NAME[:P[:monotonic][:durable]].
valid_channel_name(Name) ->
    Str = atom_to_list(Name),
    Str =/= [] andalso
        byte_size(atom_to_binary(Name, utf8)) =< limit(max_channel_name_bytes) andalso
        lists:all(fun(C) -> C > $\s andalso C =/= $: andalso C =/= 127 end, Str).

channel_arg(Name, #{parallelism := P, monotonic := M, durable := D}) ->
    atom_to_list(Name) ++ ":" ++ integer_to_list(P) ++
        [C || {true, Flag} <- [{M, ":monotonic"}, {D, ":durable"}], C <- Flag].

cluster_secret(erlang) ->
    case erlang:get_cookie() of
        nocookie -> {error, not_distributed};
        Cookie -> check_secret(atom_to_binary(Cookie, utf8))
    end;
cluster_secret({file, Path} = Source) ->
    case file:read_file(Path) of
        {ok, Data} ->
            %% The first line, byte for byte (only its line end is dropped).
            [Line | _] = binary:split(Data, [<<"\r\n">>, <<"\n">>]),
            check_secret(Line);
        {error, Reason} ->
            {error, {bad_config, {cookie, {Source, Reason}}}}
    end;
cluster_secret(Secret) when is_binary(Secret) ->
    check_secret(Secret);
cluster_secret(Secret) when is_atom(Secret) ->
    check_secret(atom_to_binary(Secret, utf8));
cluster_secret(Secret) when is_list(Secret) ->
    try unicode:characters_to_binary(Secret) of
        Bin when is_binary(Bin) -> check_secret(Bin);
        _ -> {error, {bad_config, {cookie, not_a_string}}}
    catch
        error:_ -> {error, {bad_config, {cookie, not_a_string}}}
    end;
cluster_secret(Other) ->
    {error, {bad_config, {cookie, Other}}}.

%% Any bytes are taken as they are (they reach the C-node hex-encoded);
%% never put the secret itself in an error.
check_secret(<<>>) ->
    {error, {bad_config, {cookie, empty}}};
check_secret(Secret) ->
    case limit(max_secret_bytes) of
        Max when byte_size(Secret) > Max ->
            {error, {bad_config, {cookie, {too_long, byte_size(Secret), Max}}}};
        _ ->
            {ok, Secret}
    end.

%% The `amqp' map: the broker of the pubsub topology. Defaults are the
%% schema's (those of --amqp-host and the others); the password is read
%% here, from its source if one is given.
amqp(Amqp) when is_map(Amqp) ->
    [amqp_error({unknown_key, K})
     || K <- maps:keys(Amqp),
        not lists:member(K, [host, port, vhost, user, password_file, password_env])],
    Get = fun(Key, Option, Check) ->
                  Value = maps:get(Key, Amqp, option_default(Option)),
                  case Check(Value) of
                      {ok, Valid} -> Valid;
                      error -> amqp_error({Key, Value})
                  end
          end,
    {MinPort, MaxPort} = option_bounds('amqp-port'),
    #{host => Get(host, 'amqp-host', fun amqp_host/1),
      port => Get(port, 'amqp-port', fun(P) -> int(P, MinPort, MaxPort) end),
      vhost => Get(vhost, 'amqp-vhost', fun amqp_short_string/1),
      user => Get(user, 'amqp-user', fun amqp_short_string/1),
      password => amqp_password(Amqp)};
amqp(_) ->
    amqp_error(not_a_map).

amqp_error(Reason) ->
    throw({bad_config, {amqp, Reason}}).

%% A DNS name or an address, as the C-node takes it: printable ASCII, no
%% spaces, 1..253 bytes.
amqp_host(Host) ->
    case utf8(Host) of
        {ok, Bin} when byte_size(Bin) >= 1, byte_size(Bin) =< 253 ->
            case lists:all(fun(C) -> C > $\s andalso C < 127 end, binary_to_list(Bin)) of
                true -> {ok, Bin};
                false -> error
            end;
        _ ->
            error
    end.

%% An AMQP short string (vhost, user): 1..255 bytes, no NUL.
amqp_short_string(S) ->
    case utf8(S) of
        {ok, Bin} when byte_size(Bin) >= 1, byte_size(Bin) =< 255 ->
            case binary:match(Bin, <<0>>) of
                nomatch -> {ok, Bin};
                _ -> error
            end;
        _ ->
            error
    end.

%% A string given as a list of characters or a UTF-8 binary, as UTF-8
%% (the encoding of the C-node's command line).
utf8(S) when is_binary(S); is_list(S) ->
    try unicode:characters_to_binary(S) of
        Bin when is_binary(Bin) -> {ok, Bin};
        _ -> error
    catch
        error:_ -> error
    end;
utf8(_) ->
    error.

%% The password from its source, never in an error; undefined without one.
amqp_password(#{password_file := _, password_env := _}) ->
    amqp_error({both, password_file, password_env});
amqp_password(#{password_file := Path}) ->
    is_list(Path) orelse is_binary(Path) orelse amqp_error({password_file, Path}),
    case catch file:read_file(Path) of
        {ok, Data} -> check_password({password_file, Path}, strip_line_end(Data));
        {error, Why} -> amqp_error({password_file, Path, Why});
        _ -> amqp_error({password_file, Path})  % not a file name
    end;
amqp_password(#{password_env := Name}) ->
    Var = case utf8(Name) of
              {ok, NameBin} when NameBin =/= <<>> -> unicode:characters_to_list(NameBin);
              _ -> amqp_error({password_env, Name})
          end,
    case catch os:getenv(Var) of
        false ->
            amqp_error({password_env, Name, unset});
        Value when is_list(Value) ->
            %% The variable's bytes, as the OS holds them.
            case catch unicode:characters_to_binary(Value, unicode,
                                                    file:native_name_encoding()) of
                Bin when is_binary(Bin) -> check_password({password_env, Name}, Bin);
                _ -> amqp_error({password_env, Name, not_a_string})
            end;
        _ ->
            amqp_error({password_env, Name})  % a name os:getenv/1 refuses
    end;
amqp_password(#{}) ->
    undefined.

%% ONE trailing "\n" or "\r\n" is not part of the password.
strip_line_end(Data) ->
    Size = byte_size(Data),
    case binary:longest_common_suffix([Data, <<"\r\n">>]) of
        2 -> binary:part(Data, 0, Size - 2);
        1 -> binary:part(Data, 0, Size - 1);    % "\n" (a lone "\r" is kept)
        0 -> Data
    end.

%% rabbitmq-c takes the password as a C string: no NUL.
check_password({Source, Where}, Password) ->
    Max = limit(max_secret_bytes),
    if
        Password =:= <<>> ->
            amqp_error({Source, Where, empty});
        byte_size(Password) > Max ->
            amqp_error({Source, Where, {too_long, byte_size(Password), Max}});
        true ->
            case binary:match(Password, <<0>>) of
                nomatch -> Password;
                _ -> amqp_error({Source, Where, nul_byte})
            end
    end.
