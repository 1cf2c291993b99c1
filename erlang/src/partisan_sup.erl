%% @private
%% @doc Top supervisor of `partisan': owns the `partisan_members' server
%% (the member table), the `partisan_monitor' server (node up/down
%% subscriptions) and the `partisan_rejoin' server (the cluster to rejoin
%% after a C-node restart), started first so that they outlive restarts
%% of the C-node, the `partisan_cnode' server, which owns the C-node OS
%% process, and the `partisan_plumtree_broadcast' server (broadcast for
%% riak_core-style handler modules).
%%
%% The broadcast server needs no C-node to start (its ticks find no
%% member until one is ready), and it does not depend on a particular
%% `partisan_cnode' process: with `one_for_one' it keeps its state
%% across restarts of the C-node, during which its sends fail and are
%% retried by its next ticks. It comes after `partisan_cnode' so that a
%% bad configuration is reported by that server's start, as every other
%% (`{bad_config, {Key, Value}}' from `partisan_config:load/0', which
%% checks the broadcast options too), and so that it stops first.
-module(partisan_sup).
-behaviour(supervisor).

-export([start_link/0]).
-export([init/1]).

-spec start_link() -> {ok, pid()} | ignore | {error, term()}.
start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

-spec init([]) -> {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init([]) ->
    SupFlags = #{strategy => one_for_one, intensity => 5, period => 60},
    Members = #{id => partisan_members,
                start => {partisan_members, start_link, []},
                restart => permanent,
                shutdown => 5000,
                type => worker,
                modules => [partisan_members]},
    Monitor = #{id => partisan_monitor,
                start => {partisan_monitor, start_link, []},
                restart => permanent,
                shutdown => 5000,
                type => worker,
                modules => [partisan_monitor]},
    Rejoin = #{id => partisan_rejoin,
               start => {partisan_rejoin, start_link, []},
               restart => permanent,
               shutdown => 5000,
               type => worker,
               modules => [partisan_rejoin]},
    CNode = #{id => partisan_cnode,
              start => {partisan_cnode, start_link, []},
              restart => permanent,
              shutdown => 5000,
              type => worker,
              modules => [partisan_cnode]},
    Broadcast = #{id => partisan_plumtree_broadcast,
                  start => {partisan_plumtree_broadcast, start_link, []},
                  restart => permanent,
                  shutdown => 5000,
                  type => worker,
                  modules => [partisan_plumtree_broadcast]},
    {ok, {SupFlags, [Members, Monitor, Rejoin, CNode, Broadcast]}}.
