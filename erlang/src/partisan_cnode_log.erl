%% @private
%% @doc The C-node's output lines (pure; see docs/SHIM_INTERFACE.md).
%%
%% The port delivers the C-node's stdout and stderr as `{eol, Piece}' and
%% `{noeol, Piece}' data (`{line, 4096}'). {@link data/2} assembles the
%% pieces into lines (a line longer than `?MAX_LINE' bytes is cut there)
%% and keeps the last `?KEEP_LINES' lines for error reports;
%% {@link parse/1} splits a line into its logger level and its text
%% (`LEVEL TEXT', LEVEL one of `debug info notice warning error'; any
%% other line is `info').
-module(partisan_cnode_log).

-export([new/0,
         data/2,
         flush/1,
         last_lines/1,
         parse/1]).

-export_type([log/0]).

%% Last C-node output lines kept for error reports.
-define(KEEP_LINES, 20).
%% Longest C-node output line assembled from {noeol, _} pieces.
-define(MAX_LINE, 65536).

-record(log, {partial = <<>> :: binary(),
              last = [] :: [binary()]}).       % newest first

-opaque log() :: #log{}.

%% @doc No output yet.
-spec new() -> log().
new() ->
    #log{}.

%% @doc One piece of port data: the lines it completes, oldest first.
-spec data({eol | noeol, binary()}, log()) -> {[binary()], log()}.
data({eol, Piece}, #log{partial = Partial} = Log) ->
    keep(<<Partial/binary, Piece/binary>>, Log#log{partial = <<>>});
data({noeol, Piece}, #log{partial = Partial} = Log) ->
    Line = <<Partial/binary, Piece/binary>>,
    case byte_size(Line) >= ?MAX_LINE of
        true -> keep(Line, Log#log{partial = <<>>});
        false -> {[], Log#log{partial = Line}}
    end.

%% @doc The unfinished line, if any, as a line (the C-node exited).
-spec flush(log()) -> {[binary()], log()}.
flush(#log{partial = <<>>} = Log) ->
    {[], Log};
flush(#log{partial = Partial} = Log) ->
    keep(Partial, Log#log{partial = <<>>}).

%% @doc The last lines (at most `?KEEP_LINES'), oldest first.
-spec last_lines(log()) -> [binary()].
last_lines(#log{last = Last}) ->
    lists:reverse(Last).

%% @doc A line's logger level and text.
-spec parse(binary()) -> {debug | info | notice | warning | error, binary()}.
parse(Line) ->
    case binary:split(Line, <<" ">>) of
        [<<"debug">>, Text] -> {debug, Text};
        [<<"info">>, Text] -> {info, Text};
        [<<"notice">>, Text] -> {notice, Text};
        [<<"warning">>, Text] -> {warning, Text};
        [<<"error">>, Text] -> {error, Text};
        _ -> {info, Line}
    end.

keep(Line, #log{last = Last} = Log) ->
    {[Line], Log#log{last = lists:sublist([Line | Last], ?KEEP_LINES)}}.
