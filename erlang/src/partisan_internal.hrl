%% Names shared by the modules of the partisan application (not an API).

%% #{Channel => LinkNode}: the C-node's BEAM link of each channel, set
%% once the C-node is ready (partisan_cnode).
-define(LINKS_KEY, {partisan, links}).
%% #{Channel => #{parallelism, monotonic}}: the configured channels.
-define(CHANNELS_KEY, {partisan, channels}).
%% The largest message (bytes of its external term) the C-node takes.
-define(MAX_SIZE_KEY, {partisan, max_message_size}).
%% ETS table of the nodes the C-node reaches: {Node, IsMember}.
-define(MEMBERS, partisan_members).
