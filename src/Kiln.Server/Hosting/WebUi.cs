using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Extensions.FileProviders;
using Microsoft.Net.Http.Headers;

namespace Kiln.Server.Hosting;

/// <summary>
/// Serves the web UI built from <c>ui/</c> (copied to <c>ui/</c> beside the server's assemblies by the build) at
/// <c>/</c>: its files, and <c>index.html</c> for any other GET of a page path so that links into the UI
/// work. API paths (<c>/api</c>, gRPC service paths, <c>/metrics</c>, <c>/healthz</c>, <c>/readyz</c>) are never
/// answered with the page: an unknown one stays a 404.
/// </summary>
internal static class WebUi
{
    private static readonly string[] s_reservedPrefixes = ["/api/", "/metrics", "/healthz", "/readyz", "/parca.", "/grpc."];

    /// <summary>Where the build puts the UI; absent when it was built with <c>-p:KilnSkipUi=true</c>.</summary>
    public static string DefaultDirectory => Path.Combine(AppContext.BaseDirectory, "ui");

    public static void MapWebUi(this WebApplication app, string directory)
    {
        var index = Path.Combine(directory, "index.html");
        if (!File.Exists(index))
        {
            app.MapGet("/", () => Results.Text(
                $"Kiln is running, but its web UI was not built (no {index}). Build Kiln with Node.js and npm installed " +
                "(the build runs `npm ci` and `npm run build` in ui/), or use the API and Grafana's Parca data source.\n"));
            return;
        }

        var files = new PhysicalFileProvider(directory);
        app.UseStaticFiles(new StaticFileOptions
        {
            FileProvider = files,
            ContentTypeProvider = new FileExtensionContentTypeProvider(),
            OnPrepareResponse = context =>
            {
                // Vite names assets by content hash: they never change. The page itself must be revalidated.
                context.Context.Response.Headers[HeaderNames.CacheControl] =
                    context.Context.Request.Path.StartsWithSegments("/assets", StringComparison.Ordinal)
                        ? "public, max-age=31536000, immutable"
                        : "no-cache";
            },
        });
        app.MapFallback(context =>
        {
            // The REST gateway's rewrite has already turned /api/x into /x: judge the path the client sent.
            var target = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
            var path = string.IsNullOrEmpty(target) ? context.Request.Path.Value ?? "/" : target.Split('?', 2)[0];
            if (!(HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method))
                || s_reservedPrefixes.Any(p => path.StartsWith(p, StringComparison.OrdinalIgnoreCase) || path.Equals(p.TrimEnd('/'), StringComparison.OrdinalIgnoreCase))
                || Path.HasExtension(path))
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return Task.CompletedTask;
            }
            context.Response.ContentType = "text/html; charset=utf-8";
            context.Response.Headers[HeaderNames.CacheControl] = "no-cache";
            return context.Response.SendFileAsync(files.GetFileInfo("index.html"));
        });
    }
}
