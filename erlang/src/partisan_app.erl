%% @doc The `partisan' application: validates the configuration, starts
%% the supervisor and waits until the C-node is ready.
-module(partisan_app).
-behaviour(application).

-include_lib("kernel/include/logger.hrl").

-export([start/2, stop/1]).

%% @private
-spec start(application:start_type(), term()) -> {ok, pid()} | {error, term()}.
start(_StartType, _StartArgs) ->
    case check() of
        {ok, ReadyTimeout} ->
            case partisan_sup:start_link() of
                {ok, Sup} ->
                    await_ready(Sup, ReadyTimeout);
                {error, _} = Error ->
                    Error
            end;
        {error, _} = Error ->
            Error
    end.

%% @private
-spec stop(term()) -> ok.
stop(_State) ->
    ok.

check() ->
    case node() of
        nonode@nohost ->
            {error, not_distributed};
        _ ->
            case partisan_config:load() of
                {ok, #{ready_timeout := Timeout}} -> {ok, Timeout};
                {error, _} = Error -> Error
            end
    end.

%% The application is started once the C-node said it is ready, so that
%% node_spec/0 and friends work as soon as application:start/1 returns.
await_ready(Sup, ReadyTimeout) ->
    case partisan_cnode:await_ready(ReadyTimeout + 5000) of
        ok ->
            {ok, Sup};
        {error, Reason} = Error ->
            ?LOG_ERROR(#{what => partisan_start_failed, reason => Reason}),
            unlink(Sup),
            Ref = monitor(process, Sup),
            exit(Sup, shutdown),
            receive {'DOWN', Ref, process, Sup, _} -> ok end,
            Error
    end.
