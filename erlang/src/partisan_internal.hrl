%% Names shared by the modules of the partisan application (not an API).
%% Each is defined here once; a name only one module uses lives in that
%% module (e.g. the member table, in partisan_members).

%% Registered name of the gen_server owning the C-node port: the C-node
%% sends its events there (docs/SHIM_INTERFACE.md).
-define(CNODE_SERVER, partisan_cnode).
%% The name the C-node answers to on each of its link nodes: data
%% ('$fwd') and control calls ('$call') go to {?CNODE_PROCESS, LinkNode}.
-define(CNODE_PROCESS, partisan).

%% #{Channel => LinkNode}: the C-node's BEAM link of each channel, set
%% once the C-node is ready (partisan_cnode).
-define(LINKS_KEY, {partisan, links}).
%% #{Channel => #{parallelism, monotonic, durable}}: the configured channels.
-define(CHANNELS_KEY, {partisan, channels}).
%% The largest message (bytes of its external term) the C-node takes.
-define(MAX_SIZE_KEY, {partisan, max_message_size}).
%% How long the C-node may take to answer a control call (ms).
-define(CNODE_CALL_TIMEOUT, 5000).
