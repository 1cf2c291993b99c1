%% @doc The membership and messaging calls of the original Partisan
%% library's `partisan_peer_service', for code written against it. Every
%% function delegates to {@link partisan}.
-module(partisan_peer_service).

-export([join/1,
         leave/0,
         leave/1,
         members/0,
         member/1,
         on_up/2,
         on_down/2,
         node_spec/0,
         channels/0,
         connections/0,
         stats/0,
         forward_message/3,
         forward_message/4,
         forward_message/5,
         cast_message/3,
         cast_message/4,
         cast_message/5]).

%% @doc Joins the cluster of the node described by `NodeSpec'.
%% See {@link partisan:join/1}.
-spec join(partisan:node_spec() | {node(), inet:ip_address() | string(), inet:port_number()}) ->
          ok | {error, term()}.
join(NodeSpec) ->
    partisan:join(NodeSpec).

%% @doc This node leaves the cluster. See {@link partisan:leave/0}.
-spec leave() -> ok | {error, term()}.
leave() ->
    partisan:leave().

%% @doc Removes a node from the cluster. See {@link partisan:leave/1}.
-spec leave(node() | partisan:node_spec()) -> ok | {error, term()}.
leave(NodeOrSpec) ->
    partisan:leave(NodeOrSpec).

%% @doc The members of the cluster, sorted, including this node.
-spec members() -> {ok, [node()]}.
members() ->
    {ok, partisan:members()}.

%% @doc Whether `Node' is a member of the cluster.
-spec member(node()) -> boolean().
member(Node) ->
    partisan:member(Node).

%% @doc Runs `Fun' (arity 0, 1: the node, or 2: the node and
%% `#{event => up, channels => [...]}') each time `Node' or, with `any',
%% any node comes up. See {@link partisan:on_up/2}.
-spec on_up(node() | any, partisan:node_callback()) -> ok | {error, not_running}.
on_up(Node, Fun) ->
    partisan:on_up(Node, Fun).

%% @doc Runs `Fun' each time `Node' or, with `any', any node goes down.
%% See {@link partisan:on_down/2}.
-spec on_down(node() | any, partisan:node_callback()) -> ok | {error, not_running}.
on_down(Node, Fun) ->
    partisan:on_down(Node, Fun).

%% @doc This node's spec. See {@link partisan:node_spec/0}.
-spec node_spec() -> partisan:node_spec() | {error, not_running}.
node_spec() ->
    partisan:node_spec().

%% @doc The configured channels. See {@link partisan:channels/0}.
-spec channels() -> [partisan:channel()].
channels() ->
    partisan:channels().

%% @doc Established connections per peer and channel.
%% See {@link partisan:connections/0}.
-spec connections() -> #{node() => #{partisan:channel() => non_neg_integer()}}
                     | {error, term()}.
connections() ->
    partisan:connections().

%% @doc Traffic counters per peer and channel. See {@link partisan:stats/0}.
-spec stats() -> #{node() => #{partisan:channel() => partisan:channel_stats()}}
               | {error, term()}.
stats() ->
    partisan:stats().

%% @doc See {@link partisan:forward_message/3}.
-spec forward_message(node(), partisan:server_ref(), term()) ->
          ok | {error, partisan:forward_error()}.
forward_message(Node, ServerRef, Msg) ->
    partisan:forward_message(Node, ServerRef, Msg).

%% @doc See {@link partisan:forward_message/4}.
-spec forward_message(node(), partisan:server_ref(), term(), partisan:forward_opts()) ->
          ok | {error, partisan:forward_error()}.
forward_message(Node, ServerRef, Msg, Opts) ->
    partisan:forward_message(Node, ServerRef, Msg, Opts).

%% @doc See {@link partisan:forward_message/5}.
-spec forward_message(node(), partisan:channel(), partisan:server_ref(), term(),
                      partisan:forward_opts()) ->
          ok | {error, partisan:forward_error()}.
forward_message(Node, Channel, ServerRef, Msg, Opts) ->
    partisan:forward_message(Node, Channel, ServerRef, Msg, Opts).

%% @doc See {@link partisan:cast_message/3}.
-spec cast_message(node(), partisan:server_ref(), term()) ->
          ok | {error, partisan:forward_error()}.
cast_message(Node, ServerRef, Msg) ->
    partisan:cast_message(Node, ServerRef, Msg).

%% @doc See {@link partisan:cast_message/4}.
-spec cast_message(node(), partisan:server_ref(), term(), partisan:forward_opts()) ->
          ok | {error, partisan:forward_error()}.
cast_message(Node, ServerRef, Msg, Opts) ->
    partisan:cast_message(Node, ServerRef, Msg, Opts).

%% @doc See {@link partisan:cast_message/5}.
-spec cast_message(node(), partisan:channel(), partisan:server_ref(), term(),
                   partisan:forward_opts()) ->
          ok | {error, partisan:forward_error()}.
cast_message(Node, Channel, ServerRef, Msg, Opts) ->
    partisan:cast_message(Node, Channel, ServerRef, Msg, Opts).
