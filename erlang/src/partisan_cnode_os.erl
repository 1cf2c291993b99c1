%% @private
%% @doc The C-node's OS process (docs/SHIM_INTERFACE.md, Start-up): where
%% its binary is, starting it as a port of the calling process and
%% handing it the secrets on its stdin (never on the command line).
-module(partisan_cnode_os).

-include_lib("kernel/include/logger.hrl").

-export([executable/0,
         start/3,
         warn_if_weak/1]).

%% A cluster secret shorter than this is logged as weak.
-define(MIN_SECRET_BYTES, 16).

%% @doc The C-node binary: `priv/partisan_cnode', unless the environment
%% variable PARTISAN_CNODE names another build (the sanitizer test run
%% uses it).
-spec executable() -> {ok, file:filename()} | {error, {cnode_not_found, file:filename()}}.
executable() ->
    case os:getenv("PARTISAN_CNODE") of
        false -> priv_executable();
        "" -> priv_executable();
        Path -> check_executable(Path)
    end.

%% @doc Starts the binary `Path' with `Args' (a port owned by the caller:
%% `{line, 4096}', `exit_status', binaries) and writes `Secrets' on its
%% stdin. Returns the port and the OS pid.
-spec start(file:filename(), [string()], iodata()) ->
          {port(), non_neg_integer() | undefined}.
start(Path, Args, Secrets) ->
    ?LOG_INFO(#{what => starting_cnode, path => Path, args => Args}),
    Port = open_port({spawn_executable, Path},
                     [{args, Args}, {line, 4096}, stderr_to_stdout,
                      exit_status, use_stdio, binary]),
    OsPid = case erlang:port_info(Port, os_pid) of
                {os_pid, P} -> P;
                undefined -> undefined
            end,
    try
        true = port_command(Port, Secrets)
    catch
        error:badarg -> ok    % it exited at once: exit_status tells why
    end,
    {Port, OsPid}.

%% @doc Anyone who sees a handshake on the wire can try to guess the
%% secret offline: a short one deserves a warning (never the secret
%% itself).
-spec warn_if_weak(#{cluster_secret := binary(), _ => _}) -> ok.
warn_if_weak(#{cluster_secret := Secret}) when byte_size(Secret) < ?MIN_SECRET_BYTES ->
    ?LOG_WARNING(#{what => weak_cluster_secret, bytes => byte_size(Secret),
                   advice => "use a cluster secret of at least 16 random bytes"});
warn_if_weak(_) ->
    ok.

priv_executable() ->
    PrivDir = case code:priv_dir(partisan) of
                  {error, bad_name} ->
                      filename:join(filename:dirname(filename:dirname(code:which(?MODULE))),
                                    "priv");
                  Dir ->
                      Dir
              end,
    check_executable(filename:join(PrivDir, "partisan_cnode")).

check_executable(Path) ->
    case filelib:is_regular(Path) of
        true -> {ok, Path};
        false -> {error, {cnode_not_found, Path}}
    end.
