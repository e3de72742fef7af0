using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;
using NUnit.Framework;

namespace ConvEngine.Tests.Packaging;

/// <summary>
/// The public API baseline: the public and protected surface of ConvEngine.dll, one declaration per line, sorted, compared
/// with the committed <c>Engine.Tests/Packaging/ConvEngine.api.txt</c>. An intended change is accepted by regenerating it:
/// <c>CONVENGINE_UPDATE_API=1 dotnet test Engine.Tests -c Release --filter FullyQualifiedName~PublicApiTests</c>.
/// </summary>
public class PublicApiTests
{
    private const string BaselineName = "ConvEngine.api.txt";

    public static string BaselinePath => Path.Combine(Repo.Root, "Engine.Tests", "Packaging", BaselineName);

    [Test]
    public void PublicSurfaceMatchesTheCommittedBaseline()
    {
        var actual = Describe(typeof(Tensor).Assembly);
        string text = string.Join("\n", actual) + "\n";
        if (Environment.GetEnvironmentVariable("CONVENGINE_UPDATE_API") == "1")
        {
            File.WriteAllText(BaselinePath, text);
            TestContext.Out.WriteLine($"Wrote {actual.Count} lines to {BaselinePath}.");
            return;
        }
        Assert.That(File.Exists(BaselinePath), Is.True, $"{BaselinePath} is missing. {HowToUpdate}");
        var expected = File.ReadAllLines(BaselinePath).Where(l => l.Length > 0).ToList();
        var removed = expected.Except(actual, StringComparer.Ordinal).ToList();
        var added = actual.Except(expected, StringComparer.Ordinal).ToList();
        if (removed.Count == 0 && added.Count == 0) return;
        var sb = new StringBuilder($"The public API of ConvEngine differs from {BaselineName} ({removed.Count} removed, {added.Count} added):\n");
        foreach (var l in removed) sb.Append("- ").AppendLine(l);
        foreach (var l in added) sb.Append("+ ").AppendLine(l);
        sb.Append(HowToUpdate);
        Assert.Fail(sb.ToString());
    }

    [Test]
    public void DescriptionCoversMembersAndIgnoresInternals()
    {
        var lines = Describe(typeof(Tensor).Assembly);
        Assert.That(lines, Is.Ordered.Using((IComparer<string>)StringComparer.Ordinal));
        Assert.That(lines, Is.Unique);
        Assert.That(lines, Does.Contain("ConvEngine.Tensor [sealed class] : System.IDisposable"));
        Assert.That(lines, Has.Some.StartsWith("ConvEngine.Tensor: method System.Single[] ToArray()"));
        Assert.That(lines, Has.Some.StartsWith("ConvEngine.NN.Module: protected abstract method ConvEngine.Tensor ForwardCore(ConvEngine.Tensor x)"));
        Assert.That(lines, Has.None.Contains("ConvEngine.Tensor: property System.Int32[] ShapeRef"), "internal members are not part of the API");
        Assert.That(lines, Has.None.Contains("PoolArgs"), "internal types are not part of the API");
    }

    private const string HowToUpdate =
        "If the change is intended, regenerate the baseline and commit it: " +
        "CONVENGINE_UPDATE_API=1 dotnet test Engine.Tests -c Release --filter FullyQualifiedName~PublicApiTests (see docs/reliability.md).";

    /// <summary>
    /// One line per public type (<c>ConvEngine.Tensor [sealed class] : System.IDisposable</c>) and per public or protected member
    /// of those types (<c>ConvEngine.Tensor: method System.Single[] ToArray()</c>), sorted ordinally so a type's line comes
    /// right before its members. Parameter names and default values are part of a member's line (renaming a parameter breaks
    /// callers that use named arguments).
    /// </summary>
    public static List<string> Describe(Assembly assembly)
    {
        var lines = new List<string>();
        foreach (var t in assembly.GetTypes().Where(IsVisible))
        {
            lines.Add(TypeLine(t));
            const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
            foreach (var m in t.GetMembers(all))
            {
                string? line = MemberLine(t, m);
                if (line is not null) lines.Add($"{Name(t)}: {line}");
            }
        }
        lines.Sort(StringComparer.Ordinal);
        return lines.Distinct().ToList();
    }

    private static bool IsVisible(Type t)
    {
        if (t.IsNested) return (t.IsNestedPublic || t.IsNestedFamily || t.IsNestedFamORAssem) && IsVisible(t.DeclaringType!);
        return t.IsPublic;
    }

    private static string TypeLine(Type t)
    {
        string kind = t.IsEnum ? "enum" : t.IsInterface ? "interface" : t.IsValueType ? (IsRecord(t) ? "record struct" : "struct")
            : typeof(Delegate).IsAssignableFrom(t) ? "delegate" : IsRecord(t) ? "record" : "class";
        var mods = new List<string>();
        if (t.IsClass && t.IsAbstract && t.IsSealed) mods.Add("static");
        else if (t.IsClass && t.IsAbstract && !t.IsInterface) mods.Add("abstract");
        else if (t.IsClass && t.IsSealed && kind is "class" or "record") mods.Add("sealed");
        var bases = new List<string>();
        if (t.BaseType is { } b && b != typeof(object) && b != typeof(ValueType) && b != typeof(Enum) && b != typeof(MulticastDelegate)) bases.Add(Name(b));
        if (t.IsEnum) bases.Add(Name(Enum.GetUnderlyingType(t)));
        // Interfaces the type adds itself (not those of its base class, nor the ones every enum has).
        if (!t.IsEnum)
            bases.AddRange(t.GetInterfaces().Except(t.BaseType?.GetInterfaces() ?? [])
                .Where(i => i.IsPublic || i.IsNestedPublic).Where(i => !IsCompilerInterface(t, i)).Select(Name).OrderBy(n => n, StringComparer.Ordinal));
        // "Name [modifiers kind]" sorts right before the type's member lines ("Name: ...").
        string head = Name(t) + " [" + string.Join(" ", mods.Append(kind)) + "]";
        return bases.Count == 0 ? head : head + " : " + string.Join(", ", bases);
    }

    // IEquatable<Self> on records is generated; listing it would only repeat "record".
    private static bool IsCompilerInterface(Type t, Type i) =>
        IsRecord(t) && i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEquatable<>) && i.GetGenericArguments()[0] == t;

    private static bool IsRecord(Type t) => t.GetMethod("<Clone>$") is not null ||
        (t.IsValueType && t.GetMethod("PrintMembers", BindingFlags.NonPublic | BindingFlags.Instance) is not null);

    private static string? MemberLine(Type owner, MemberInfo m)
    {
        switch (m)
        {
            case ConstructorInfo c when Visible(c):
                return $"{Access(c)}ctor({Params(c.GetParameters())})";
            case MethodInfo mi when Visible(mi) && !mi.IsSpecialName || (m is MethodInfo op && Visible(op) && op.Name.StartsWith("op_", StringComparison.Ordinal)):
            {
                var method = (MethodInfo)m;
                if (method.Name is "<Clone>$") return null;
                string generic = method.IsGenericMethodDefinition ? "<" + string.Join(", ", method.GetGenericArguments().Select(a => a.Name)) + ">" : "";
                return $"{Access(method)}{Modifiers(method)}method {Name(method.ReturnType)} {method.Name}{generic}({Params(method.GetParameters())})";
            }
            case PropertyInfo p:
            {
                var get = p.GetMethod is { } g && Visible(g) ? g : null;
                var set = p.SetMethod is { } s && Visible(s) ? s : null;
                if (get is null && set is null) return null;
                var any = get ?? set!;
                string accessors = (get is not null ? (Access(get) + "get; ") : "") +
                                   (set is not null ? Access(set) + (IsInitOnly(set) ? "init; " : "set; ") : "");
                var idx = p.GetIndexParameters();
                string name = idx.Length == 0 ? p.Name : $"this[{Params(idx)}]";
                return $"{Modifiers(any)}property {Name(p.PropertyType)} {name} {{ {accessors}}}";
            }
            case FieldInfo f when f.IsPublic || f.IsFamily || f.IsFamilyOrAssembly:
                if (owner.IsEnum) return f.IsStatic ? $"{f.Name} = {Convert.ToInt64(f.GetRawConstantValue(), System.Globalization.CultureInfo.InvariantCulture)}" : null;
                return $"{(f.IsFamily || f.IsFamilyOrAssembly ? "protected " : "")}{(f.IsLiteral ? "const " : f.IsStatic ? "static " : "")}{(f.IsInitOnly ? "readonly " : "")}field {Name(f.FieldType)} {f.Name}" +
                       (f.IsLiteral ? $" = {Literal(f.GetRawConstantValue())}" : "");
            case EventInfo e when e.AddMethod is { } add && Visible(add):
                return $"{Access(add)}event {Name(e.EventHandlerType!)} {e.Name}";
            case Type nested when IsVisible(nested):
                return null; // listed on its own line
            default:
                return null;
        }
    }

    private static bool Visible(MethodBase m) => m.IsPublic || m.IsFamily || m.IsFamilyOrAssembly;

    private static string Access(MethodBase m) => m.IsPublic ? "" : "protected ";

    private static string Modifiers(MethodInfo m)
    {
        if (m.IsStatic) return "static ";
        if (m.DeclaringType!.IsInterface) return "";
        if (m.IsAbstract) return "abstract ";
        if (m.IsVirtual && !m.IsFinal)
            return m.GetBaseDefinition().DeclaringType == m.DeclaringType ? "virtual " : "override ";
        if (m.IsVirtual && m.GetBaseDefinition().DeclaringType != m.DeclaringType) return "sealed override ";
        return "";
    }

    private static bool IsInitOnly(MethodInfo set) =>
        set.ReturnParameter.GetRequiredCustomModifiers().Any(t => t == typeof(IsExternalInit));

    private static string Params(ParameterInfo[] ps) => string.Join(", ", ps.Select(p =>
    {
        string prefix = p.IsOut ? "out " : p.ParameterType.IsByRef ? (p.IsIn ? "in " : "ref ") : p.GetCustomAttribute<ParamArrayAttribute>() is not null ? "params " : "";
        string dflt = p.HasDefaultValue ? " = " + Literal(p.RawDefaultValue) : "";
        return $"{prefix}{Name(p.ParameterType)} {p.Name}{dflt}";
    }));

    private static string Literal(object? v) => v switch
    {
        null => "null",
        string s => "\"" + s + "\"",
        bool b => b ? "true" : "false",
        float f => f.ToString("R", System.Globalization.CultureInfo.InvariantCulture) + "f",
        double d => d.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        IFormattable x => x.ToString(null, System.Globalization.CultureInfo.InvariantCulture),
        _ => v.ToString() ?? "",
    };

    /// <summary>A C#-like full name: generic arguments spelled out, nested types with '.', by-ref without '&amp;'.</summary>
    private static string Name(Type t)
    {
        if (t.IsByRef) return Name(t.GetElementType()!);
        if (t.IsArray) return Name(t.GetElementType()!) + "[" + new string(',', t.GetArrayRank() - 1) + "]";
        if (t.IsPointer) return Name(t.GetElementType()!) + "*";
        if (t.IsGenericParameter) return t.Name;
        if (Nullable.GetUnderlyingType(t) is { } u) return Name(u) + "?";
        string baseName = t.IsNested ? Name(t.DeclaringType!.IsGenericType ? t.DeclaringType.GetGenericTypeDefinition() : t.DeclaringType) + "." + t.Name : (t.Namespace is null ? t.Name : t.Namespace + "." + t.Name);
        if (!t.IsGenericType) return baseName;
        int tick = baseName.LastIndexOf('`');
        if (tick >= 0) baseName = baseName[..tick];
        var args = t.GetGenericArguments();
        if (t.FullName?.StartsWith("System.ValueTuple`", StringComparison.Ordinal) == true || (t.IsGenericType && t.GetGenericTypeDefinition().FullName?.StartsWith("System.ValueTuple`", StringComparison.Ordinal) == true))
            return "(" + string.Join(", ", args.Select(Name)) + ")";
        return baseName + "<" + string.Join(", ", args.Select(Name)) + ">";
    }
}
