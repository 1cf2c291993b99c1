%% @doc The `partisan' application: starts the supervisor and waits until
%% the C-node is ready.
%%
%% The configuration is loaded and validated once per C-node start, by
%% `partisan_cnode' (which needs all of it, the cluster secret included);
%% a bad configuration makes the start fail with
%% `{error, {bad_config, {Key, Value}}}'.
-module(partisan_app).
-behaviour(application).

-include_lib("kernel/include/logger.hrl").

-export([start/2, stop/1]).

%% @private
-spec start(application:start_type(), term()) -> {ok, pid()} | {error, term()}.
start(_StartType, _StartArgs) ->
    case node() of
        nonode@nohost ->
            {error, not_distributed};
        _ ->
            case partisan_sup:start_link() of
                {ok, Sup} ->
                    await_ready(Sup);
                {error, {shutdown, {failed_to_start_child, partisan_cnode, Reason}}} ->
                    partisan_cnode:cleanup(),
                    {error, Reason};
                {error, _} = Error ->
                    partisan_cnode:cleanup(),
                    Error
            end
    end.

%% @private
-spec stop(term()) -> ok.
stop(_State) ->
    partisan_cnode:cleanup().

%% The application is started once the C-node said it is ready, so that
%% node_spec/0 and friends work as soon as application:start/1 returns.
%% The server answers within its ready_timeout (or fails sooner).
await_ready(Sup) ->
    case partisan_cnode:await_ready(infinity) of
        ok ->
            {ok, Sup};
        {error, Reason} = Error ->
            ?LOG_ERROR(#{what => partisan_start_failed, reason => Reason}),
            unlink(Sup),
            Ref = monitor(process, Sup),
            exit(Sup, shutdown),
            receive {'DOWN', Ref, process, Sup, _} -> ok end,
            partisan_cnode:cleanup(),
            Error
    end.
