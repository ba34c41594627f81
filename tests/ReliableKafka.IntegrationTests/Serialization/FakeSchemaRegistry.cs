using System.Collections.Concurrent;
using System.Reflection;
using Confluent.SchemaRegistry;

namespace ReliableKafka.IntegrationTests.Serialization;

/// <summary>
/// An in-memory Schema Registry client (no network): registers schemas per subject with increasing ids and serves them
/// back by id, which is all Confluent's JSON serializer and deserializer ask of a registry. A call it does not model
/// fails naming the method, so a newer serdes version that needs more says so.
/// </summary>
public class FakeSchemaRegistry : DispatchProxy
{
    private readonly ConcurrentDictionary<int, (string Subject, Schema Schema)> _byId = new();
    private readonly ConcurrentDictionary<(string Subject, string Text), int> _ids = new();
    private int _lastId;

    /// <summary>Gets the subjects registered so far.</summary>
    public IReadOnlyCollection<string> Subjects => [.. _ids.Keys.Select(k => k.Subject).Distinct()];

    /// <summary>Gets how many calls failed on purpose (see <see cref="FailNextReads"/>).</summary>
    public int InjectedFailures => _injectedFailures;

    /// <summary>Gets or sets how many of the next schema reads by id fail as if the registry could not be reached.</summary>
    public int FailNextReads { get; set; }

    private int _injectedFailures;

    public static (ISchemaRegistryClient Client, FakeSchemaRegistry Registry) Create()
    {
        var client = DispatchProxy.Create<ISchemaRegistryClient, FakeSchemaRegistry>();
        return (client, (FakeSchemaRegistry)(object)client);
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        args ??= [];
        return targetMethod.Name switch
        {
            "get_Config" => new List<KeyValuePair<string, string>>(),
            "get_MaxCachedSchemas" => 1000,
            "get_AuthHeaderProvider" => null,
            "get_Proxy" => null,
            "ConstructValueSubjectName" => $"{args[0]}-value",
            "ConstructKeySubjectName" => $"{args[0]}-key",
            "RegisterSchemaAsync" => Task.FromResult(Register((string)args[0]!, AsSchema(args[1]!))),
            "GetSchemaIdAsync" => Task.FromResult(IdOf((string)args[0]!, AsSchema(args[1]!))),
            "RegisterSchemaWithResponseAsync" or "LookupSchemaAsync" => Task.FromResult(Registered((string)args[0]!, AsSchema(args[1]!))),
            "GetSchemaAsync" when args.Length > 0 && args[0] is int id => Read(id),
            "GetSchemaBySubjectAndIdAsync" => Read((int)args[1]!),
            "ClearCaches" or "ClearLatestCaches" or "Dispose" => null,

            // No topic has subject associations: the subject name strategy falls back to <topic>-value.
            "GetAssociationsByResourceNameAsync" => EmptyList(targetMethod.ReturnType),
            _ => throw new NotSupportedException($"The fake Schema Registry does not model {targetMethod.Name}."),
        };
    }

    /// <summary>A completed Task&lt;List&lt;T&gt;&gt; holding an empty list, for a method returning that type.</summary>
    private static object EmptyList(Type taskType)
    {
        var listType = taskType.GetGenericArguments()[0];
        var fromResult = typeof(Task).GetMethod(nameof(Task.FromResult))!.MakeGenericMethod(listType);
        return fromResult.Invoke(null, [Activator.CreateInstance(listType)])!;
    }

    private static Schema AsSchema(object schema) => schema as Schema ?? new Schema((string)schema, SchemaType.Avro);

    private int Register(string subject, Schema schema)
    {
        var id = _ids.GetOrAdd((subject, schema.SchemaString), _ => Interlocked.Increment(ref _lastId));
        _byId[id] = (subject, schema);
        return id;
    }

    private int IdOf(string subject, Schema schema) =>
        _ids.TryGetValue((subject, schema.SchemaString), out var id) ? id : throw new SchemaRegistryException("Schema not found", System.Net.HttpStatusCode.NotFound, 40403);

    private RegisteredSchema Registered(string subject, Schema schema)
    {
        var id = Register(subject, schema);
        return new RegisteredSchema(subject, 1, id, schema.SchemaString, schema.SchemaType, schema.References ?? []);
    }

    private Task<Schema> Read(int id)
    {
        bool fail;
        lock (_byId)
        {
            fail = FailNextReads > 0;
            FailNextReads -= fail ? 1 : 0;
        }

        if (fail)
        {
            Interlocked.Increment(ref _injectedFailures);
            return Task.FromException<Schema>(new HttpRequestException("The schema registry cannot be reached (injected)."));
        }

        return _byId.TryGetValue(id, out var entry)
            ? Task.FromResult(entry.Schema)
            : Task.FromException<Schema>(new SchemaRegistryException($"Schema {id} not found", System.Net.HttpStatusCode.NotFound, 40403));
    }
}
