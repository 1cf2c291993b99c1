%% A private RabbitMQ broker for common_test suites: a thin wrapper around
%% test/amqp/broker.sh, which keeps everything a broker owns (data, logs,
%% cookie, epmd, ports, node name) under one directory and listens on
%% 127.0.0.1 only. Several brokers can run at once, next to a system broker
%% or a test run's own epmd.
%%
%% A start took 8-16 s and a stop 2-3 s on this project's 2-core machines;
%% the script bounds every wait (60 s for a start), and calls here add a
%% backstop.
%% Failures raise `{broker, Command, ExitStatus, Output}' with the script's
%% output, which includes the tail of the broker's log.
-module(partisan_ct_broker).

-export([available/0,
         start/1,
         start/2,
         stop/1,
         restart/1,
         status/1,
         add_user/3,
         add_user/4,
         ctl/2,
         os_pids/1,
         script/0]).

-export_type([broker/0]).

-type broker() :: #{port := inet:port_number(),
                    dir := file:filename(),
                    node := atom(),
                    os_pid := pos_integer(),
                    epmd_port := inet:port_number()}.

-define(START_TIMEOUT_S, 60).  % broker.sh's own bound on a start's wait
-define(BACKSTOP, 240000).     % ms; broker.sh gives up well before this

%% @doc Whether a broker can run here: broker.sh is found and RabbitMQ
%% (and the tools the script uses) are installed.
-spec available() -> true | {false, string()}.
available() ->
    Script = script(),
    case filelib:is_regular(Script) of
        false ->
            {false, "no broker script at " ++ Script};
        true ->
            case run(["check"]) of
                {0, _} -> true;
                {_, Out} -> {false, string:trim(binary_to_list(Out))}
            end
    end.

%% @doc Starts a broker on a free port in a new directory under the
%% config's `priv_dir' (or under the system's temporary directory).
-spec start(list()) -> broker().
start(Config) ->
    start(Config, 0).

%% @doc Starts a broker on Port (0: a free one, chosen by broker.sh below
%% the ephemeral range).
-spec start(list(), inet:port_number()) -> broker().
start(Config, Port) ->
    Dir = new_dir(proplists:get_value(priv_dir, Config)),
    try run_ok(start, ["start", Dir, integer_to_list(Port)]) of
        _ -> broker(Dir)
    catch
        error:Reason:Stack ->
            %% broker.sh cleans up after a failed start, but not when the
            %% backstop killed it.
            _ = run(["stop", Dir]),
            erlang:raise(error, Reason, Stack)
    end.

%% @doc Stops the broker and its epmd; waits until they have exited. A
%% no-op when it is not running.
-spec stop(broker()) -> ok.
stop(#{dir := Dir}) ->
    _ = run_ok(stop, ["stop", Dir]),
    ok.

%% @doc Stops the broker, then starts it again on the same port with the
%% same data directory (durable queues and persistent messages survive).
%% The OS pid and the epmd port change.
-spec restart(broker()) -> broker().
restart(#{dir := Dir}) ->
    _ = run_ok(restart, ["restart", Dir]),
    broker(Dir).

%% @doc `running' when the broker answers rabbitmqctl, `stopped' when its
%% VM is not there, `not_answering' otherwise.
-spec status(broker()) -> running | stopped | not_answering.
status(#{dir := Dir}) ->
    case run(["status", Dir]) of
        {0, _} -> running;
        {3, _} -> stopped;
        {_, _} -> not_answering
    end.

%% @doc Adds User with Password and full permissions on the default vhost.
-spec add_user(broker(), string(), string()) -> ok.
add_user(Broker, User, Password) ->
    add_user(Broker, User, Password, "/").

%% @doc Adds User with Password and full permissions on VHost, which is
%% created when missing.
-spec add_user(broker(), string(), string(), string()) -> ok.
add_user(#{dir := Dir}, User, Password, VHost) ->
    _ = run_ok(add_user, ["adduser", Dir, User, Password, VHost]),
    ok.

%% @doc Runs `rabbitmqctl Args' against the broker; returns its output.
-spec ctl(broker(), [string()]) -> binary().
ctl(#{dir := Dir}, Args) ->
    run_ok(ctl, ["ctl", Dir | Args]).

%% @doc The OS processes of a running broker, found from /proc without
%% asking broker.sh: the VM (from its pid file), the session its start
%% created, every descendant of those, and the epmd listening on its
%% epmd port. A test can check that none is left after stop/1.
-spec os_pids(broker()) -> [pos_integer()].
os_pids(#{os_pid := Vm, epmd_port := EpmdPort}) ->
    Procs = proc_table(),
    Session = case lists:keyfind(Vm, 1, Procs) of
                  {Vm, _, _, Sid, _} -> Sid;
                  false -> Vm
              end,
    Roots = lists:usort([Vm, Session]),
    InSession = [P || {P, _, _, S, _} <- Procs, S =:= Session],
    Tree = descendants(lists:usort(Roots ++ InSession), Procs),
    Port = integer_to_binary(EpmdPort),
    Epmd = [P || {P, <<"epmd">>, _, _, Args} <- Procs, lists:member(Port, Args)],
    lists:usort([P || P <- Tree ++ Epmd, lists:keymember(P, 1, Procs)]).

%% @doc Path of broker.sh: $PARTISAN_BROKER_SH, else test/amqp/broker.sh
%% next to this module's source directory.
-spec script() -> file:filename().
script() ->
    case os:getenv("PARTISAN_BROKER_SH") of
        false ->
            Src = proplists:get_value(source, ?MODULE:module_info(compile)),
            filename:join([filename:dirname(filename:dirname(Src)), "amqp", "broker.sh"]);
        Path ->
            Path
    end.

%% Internal

new_dir(undefined) ->
    new_dir(os:getenv("TMPDIR", "/tmp"));
new_dir(Parent) ->
    Name = "amqp_broker_" ++ os:getpid() ++ "_"
        ++ integer_to_list(erlang:unique_integer([positive])),
    Dir = filename:join(Parent, Name),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    Dir.

%% What broker.sh recorded about the broker it started in Dir.
broker(Dir) ->
    {ok, EnvText} = file:read_file(filename:join(Dir, "broker.env")),
    Env = maps:from_list([list_to_tuple(string:split(L, "="))
                          || L <- string:lexemes(binary_to_list(EnvText), "\n")]),
    {ok, PidText} = file:read_file(filename:join(Dir, "rabbitmq.pid")),
    #{port => list_to_integer(maps:get("PORT", Env)),
      dir => Dir,
      node => list_to_atom(maps:get("NODE", Env)),
      os_pid => binary_to_integer(string:trim(PidText)),
      epmd_port => list_to_integer(maps:get("EPMD_PORT", Env))}.

run_ok(What, Args) ->
    case run(Args) of
        {0, Out} ->
            Out;
        {Status, Out} ->
            ct:log("broker.sh ~ts failed (~p):~n~ts", [lists:join(" ", Args), Status, Out]),
            error({broker, What, Status, Out})
    end.

%% Runs broker.sh; returns its exit status and its output (stdout and
%% stderr together).
-spec run([string()]) -> {non_neg_integer() | timeout, binary()}.
run(Args) ->
    Env = [{"BROKER_START_TIMEOUT", integer_to_list(?START_TIMEOUT_S)}],
    Port = open_port({spawn_executable, script()},
                     [{args, Args}, {env, Env}, exit_status, stderr_to_stdout,
                      binary, use_stdio, hide]),
    T0 = erlang:monotonic_time(millisecond),
    Result = collect(Port, [], T0 + ?BACKSTOP),
    ct:log("broker.sh ~ts: ~p in ~.1f s~n~ts",
           [lists:join(" ", Args), element(1, Result),
            (erlang:monotonic_time(millisecond) - T0) / 1000, element(2, Result)]),
    Result.

collect(Port, Acc, Deadline) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    receive
        {Port, {data, Data}} ->
            collect(Port, [Data | Acc], Deadline);
        {Port, {exit_status, Status}} ->
            {Status, iolist_to_binary(lists:reverse(Acc))}
    after Left ->
            %% The script is stuck: kill it; the caller gets `timeout'.
            case erlang:port_info(Port, os_pid) of
                {os_pid, OsPid} -> os:cmd("kill -KILL " ++ integer_to_list(OsPid));
                undefined -> ok
            end,
            catch port_close(Port),
            {timeout, iolist_to_binary(lists:reverse(Acc))}
    end.

%% Every process as {Pid, Comm, PPid, Session, Args}, from /proc.
proc_table() ->
    {ok, Entries} = file:list_dir("/proc"),
    lists:filtermap(fun process/1, Entries).

process(Entry) ->
    case string:to_integer(Entry) of
        {Pid, ""} ->
            Dir = "/proc/" ++ Entry,
            case {file:read_file(Dir ++ "/stat"), file:read_file(Dir ++ "/cmdline")} of
                {{ok, Stat}, {ok, Cmd}} ->
                    %% "pid (comm) state ppid pgrp session ...": comm may hold
                    %% spaces and parentheses, so split at the last ") ".
                    [Head, Rest] = string:split(Stat, ") ", trailing),
                    [_, Comm] = string:split(Head, " ("),
                    [_State, PPid, _Pgrp, Sid | _] = string:lexemes(Rest, " "),
                    {true, {Pid, Comm, binary_to_integer(PPid), binary_to_integer(Sid),
                            binary:split(Cmd, <<0>>, [global, trim_all])}};
                _ ->
                    false  % exited meanwhile
            end;
        _ ->
            false
    end.

descendants(Roots, Procs) ->
    New = [P || {P, _, PPid, _, _} <- Procs,
                lists:member(PPid, Roots), not lists:member(P, Roots)],
    case New of
        [] -> Roots;
        _ -> descendants(lists:usort(Roots ++ New), Procs)
    end.
