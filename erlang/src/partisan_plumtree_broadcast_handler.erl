%% @doc The behaviour of a module whose data {@link
%% partisan_plumtree_broadcast} spreads over the cluster: the callbacks of
%% `riak_core_broadcast_handler' (and of the original partisan library's
%% module of this name), with the same contracts.
%%
%% A handler owns its data (it stores what it broadcasts and what it
%% merges); the broadcast server only carries it. Messages are named by
%% a `MessageId' the handler chooses (e.g. a key and a version): two
%% broadcasts with the same id are the same message.
%%
%% <ul>
%% <li>`broadcast_data(Broadcast) -> {MessageId, Payload}': what
%%     {@link partisan_plumtree_broadcast:broadcast/2} sends for
%%     `Broadcast' (called in the broadcasting process; the handler has
%%     stored it already).</li>
%% <li>`merge(MessageId, Payload) -> boolean()': a message arrived; `true'
%%     if it was new and is now stored, `false' if it was stale (already
%%     known, or older than what is stored).</li>
%% <li>`is_stale(MessageId) -> boolean()': whether this node already has
%%     the message (or something newer); `false' makes the server pull it
%%     from the member that announced it.</li>
%% <li>`graft(MessageId) -> stale | {ok, Payload} | {error, Reason}': the
%%     payload of a message another node asks for; `stale' when it has
%%     been superseded (nothing is sent).</li>
%% <li>`exchange(Peer) -> {ok, pid()} | {error, Reason}': start an
%%     anti-entropy exchange with `Peer' in a process of its own (the
%%     server monitors it and runs at most
%%     `broadcast_max_concurrent_exchanges' at once); only called for the
%%     modules listed in `broadcast_mods'.</li>
%% </ul>
%%
%% The server calls every callback but `broadcast_data/1' in its own
%% process, so a callback should be quick (an exchange runs in the
%% process it starts); an exception in a callback is caught and logged
%% and the message concerned skipped.
%%
%% Unlike riak_core, the tree that carries broadcasts is the C-node's
%% Plumtree, which relays by its own message ids and drops duplicates
%% itself: `merge' returning `false' does not prune the tree.
%% `is_stale' and `graft' serve the handler-level repair of
%% {@link partisan_plumtree_broadcast} instead.
-module(partisan_plumtree_broadcast_handler).

-include_lib("kernel/include/logger.hrl").

-export([call/3]).

-export_type([message_id/0, payload/0]).

-type message_id() :: term().
-type payload() :: term().

-callback broadcast_data(Broadcast :: term()) -> {message_id(), payload()}.
-callback merge(message_id(), payload()) -> boolean().
-callback is_stale(message_id()) -> boolean().
-callback graft(message_id()) -> stale | {ok, payload()} | {error, term()}.
-callback exchange(Peer :: node()) -> {ok, pid()} | {error, term()}.

%% @private
%% @doc Calls `Mod:Fun(Args...)' for the broadcast server: `{ok, Result}',
%% or `error' after logging the exception (a handler never brings the
%% server down).
-spec call(module(), merge | is_stale | graft | exchange, [term()]) -> {ok, term()} | error.
call(Mod, Fun, Args) ->
    try
        {ok, erlang:apply(Mod, Fun, Args)}
    catch
        Class:Reason:Stack ->
            ?LOG_WARNING(#{what => broadcast_handler_failed, handler => Mod,
                           callback => {Fun, length(Args)}, class => Class, reason => Reason,
                           stacktrace => Stack}),
            error
    end.
