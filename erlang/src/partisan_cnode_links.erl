%% @private
%% @doc The C-node's links to this BEAM (hidden nodes, one per channel,
%% see docs/SHIM_INTERFACE.md) and bounded, event-driven waits for them
%% to connect or to go.
%%
%% A wait is a value kept by the waiting process, which must be
%% subscribed to hidden node events (`net_kernel:monitor_nodes(true,
%% [{node_type, hidden}])') before it starts one, and passes each
%% `{nodeup, Node, _}' / `{nodedown, Node, _}' to {@link event/3}. Its
%% timer sends `{timeout, TRef, partisan_link_wait}'
%% ({@link timeout/2}). Nothing here sleeps or polls.
-module(partisan_cnode_links).

-export([links/3,
         all/2,
         previous/1,
         await/4,
         event/3,
         timeout/2,
         cancel/1,
         await_gone/2]).

-export_type([wait/0]).

-record(wait, {event :: up | down,
               nodes :: [node()],
               tref :: reference(),
               then :: term()}).

-opaque wait() :: #wait{}.

%% @doc The channel -> link node map of a ready message: every configured
%% channel gets a link (the main node name `CNode' when the C-node named
%% none).
-spec links(node(), #{atom() => term()}, [{atom(), node()}]) -> #{atom() => node()}.
links(CNode, Channels, LinkList) ->
    Default = maps:map(fun(_, _) -> CNode end, Channels),
    Given = maps:from_list([{C, L} || {C, L} <- LinkList, is_atom(C), is_atom(L)]),
    maps:merge(Default, Given).

%% @doc Every link node: the main node name and those of `Links'.
-spec all(node(), #{atom() => node()}) -> [node()].
all(CNode, Links) ->
    lists:usort([CNode | maps:values(Links)]).

%% @doc The connected hidden nodes that may be links of an earlier C-node
%% of this BEAM (the main name `CNode', or a name made from it), left by
%% an incarnation of `partisan_cnode' killed without `terminate/2' or
%% whose `terminate/2' did not see them go.
-spec previous(node()) -> [node()].
previous(CNode) ->
    [Alive, Host] = string:split(atom_to_list(CNode), "@"),
    [N || N <- erlang:nodes(hidden),
          case string:split(atom_to_list(N), "@") of
              [A, Host] -> lists:prefix(Alive, A);
              _ -> false
          end].

%% @doc Waits until each of `Nodes' is connected (`up') or gone
%% (`down'), for at most `Timeout' ms; `Then' is handed back when done.
-spec await(up | down, [node()], timeout(), Then) -> {done, Then} | {wait, wait()}.
await(Event, Nodes0, Timeout, Then) ->
    Hidden = erlang:nodes(hidden),
    Nodes = case Event of
                up -> lists:usort(Nodes0) -- Hidden;
                down -> [N || N <- lists:usort(Nodes0), lists:member(N, Hidden)]
            end,
    case Nodes of
        [] ->
            {done, Then};
        _ ->
            TRef = erlang:start_timer(Timeout, self(), partisan_link_wait),
            {wait, #wait{event = Event, nodes = Nodes, tref = TRef, then = Then}}
    end.

%% @doc A hidden node event: the wait may be over.
-spec event(up | down, node(), wait()) -> {done, term()} | {wait, wait()}.
event(Event, Node, #wait{event = Event, nodes = Nodes, tref = TRef, then = Then} = Wait) ->
    case lists:delete(Node, Nodes) of
        [] ->
            _ = erlang:cancel_timer(TRef),
            {done, Then};
        Rest ->
            {wait, Wait#wait{nodes = Rest}}
    end;
event(_Event, _Node, Wait) ->
    {wait, Wait}.

%% @doc `{timeout, TRef, partisan_link_wait}' arrived: the nodes still
%% awaited and `Then', or `stale' for the timer of another wait.
-spec timeout(reference(), wait()) -> {[node()], term()} | stale.
timeout(TRef, #wait{tref = TRef, nodes = Nodes, then = Then}) ->
    {Nodes, Then};
timeout(_TRef, _Wait) ->
    stale.

%% @doc Abandons a wait.
-spec cancel(wait()) -> ok.
cancel(#wait{tref = TRef}) ->
    _ = erlang:cancel_timer(TRef),
    receive {timeout, TRef, partisan_link_wait} -> ok after 0 -> ok end.

%% @doc Blocks until each of `Nodes' is gone or `Timeout' ms passed
%% (receiving the nodedown events; for `terminate/2', which has no later
%% callback to finish in). Returns the nodes still connected.
-spec await_gone([node()], timeout()) -> [node()].
await_gone(Nodes, Timeout) ->
    case await(down, Nodes, Timeout, gone) of
        {done, gone} -> [];
        {wait, Wait} -> receive_gone(Wait)
    end.

receive_gone(#wait{tref = TRef, nodes = Nodes} = Wait0) ->
    receive
        {nodedown, Node, _Info} ->
            case event(down, Node, Wait0) of
                {done, gone} -> [];
                {wait, Wait} -> receive_gone(Wait)
            end;
        {timeout, TRef, partisan_link_wait} ->
            Nodes
    end.
