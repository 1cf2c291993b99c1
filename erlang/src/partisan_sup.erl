%% @private
%% @doc Top supervisor of `partisan': owns the `partisan_members' server
%% (the member table), the `partisan_monitor' server (node up/down
%% subscriptions) and the `partisan_rejoin' server (the cluster to rejoin
%% after a C-node restart), started first so that they outlive restarts
%% of the C-node, and the `partisan_cnode' server, which owns the C-node
%% OS process.
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
    {ok, {SupFlags, [Members, Monitor, Rejoin, CNode]}}.
