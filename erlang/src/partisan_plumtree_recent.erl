%% @private
%% @doc The message ids `partisan_plumtree_broadcast' delivered (or sent)
%% lately, per handler module: what its digests announce. Bounded: at
%% most `Size' ids per handler (the newest), each for `Age' ms. Pure:
%% the caller passes the time (ms, monotonic).
-module(partisan_plumtree_recent).

-export([new/2,
         add/4,
         expire/2,
         digest/3,
         ids/2]).

-export_type([recent/0]).

-record(recent, {size :: pos_integer(),
                 age :: pos_integer(),
                 %% Per handler: the ids in the order they came, with the
                 %% time, and the same as a map (to find one).
                 mods = #{} :: #{module() => {queue:queue({term(), integer()}),
                                              #{term() => integer()}}}}).

-opaque recent() :: #recent{}.

%% @doc Keeps at most `Size' ids per handler, each for `Age' ms.
-spec new(pos_integer(), pos_integer()) -> recent().
new(Size, Age) when is_integer(Size), Size > 0, is_integer(Age), Age > 0 ->
    #recent{size = Size, age = Age}.

%% @doc `Id' of `Mod' came at `Now' (an id already kept keeps its time);
%% past `Size' the oldest id of `Mod' goes.
-spec add(module(), term(), integer(), recent()) -> recent().
add(Mod, Id, Now, #recent{size = Size, mods = Mods} = R) ->
    {Queue, Map} = maps:get(Mod, Mods, {queue:new(), #{}}),
    case Map of
        #{Id := _} ->
            R;
        _ ->
            Kept = trim(queue:in({Id, Now}, Queue), Map#{Id => Now}, Size),
            R#recent{mods = Mods#{Mod => Kept}}
    end.

%% @doc Drops the ids `Age' ms old or older (and handlers left with none).
-spec expire(integer(), recent()) -> recent().
expire(Now, #recent{age = Age, mods = Mods} = R) ->
    Kept = maps:filtermap(fun(_Mod, {Queue, Map}) ->
                                  case expire(Queue, Map, Now - Age) of
                                      {_, Left} when map_size(Left) =:= 0 -> false;
                                      Pair -> {true, Pair}
                                  end
                          end, Mods),
    R#recent{mods = Kept}.

%% @doc What a digest announces at `Now': per handler, the ids kept that
%% came at least `MinAge' ms ago (the tree has had its chance to deliver
%% them), oldest first; handlers without any are left out. Call
%% {@link expire/2} first to leave out the ids too old.
-spec digest(integer(), non_neg_integer(), recent()) -> [{module(), [term()]}].
digest(Now, MinAge, #recent{mods = Mods}) ->
    Digests = [{Mod, [Id || {Id, T} <- queue:to_list(Queue), T =< Now - MinAge]}
               || {Mod, {Queue, _}} <- lists:sort(maps:to_list(Mods))],
    [D || {_, [_ | _]} = D <- Digests].

%% @doc The ids of `Mod' kept, oldest first.
-spec ids(module(), recent()) -> [term()].
ids(Mod, #recent{mods = Mods}) ->
    case Mods of
        #{Mod := {Queue, _}} -> [Id || {Id, _} <- queue:to_list(Queue)];
        _ -> []
    end.

%%====================================================================
%% Internal
%%====================================================================

trim(Queue, Map, Size) when map_size(Map) > Size ->
    {{value, {Id, _}}, Rest} = queue:out(Queue),
    trim(Rest, maps:remove(Id, Map), Size);
trim(Queue, Map, _Size) ->
    {Queue, Map}.

%% The queue is in time order: drop from its front.
expire(Queue, Map, Oldest) ->
    case queue:peek(Queue) of
        {value, {Id, T}} when T =< Oldest ->
            expire(queue:drop(Queue), maps:remove(Id, Map), Oldest);
        _ ->
            {Queue, Map}
    end.
