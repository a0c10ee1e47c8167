namespace Kiln.Storage.DuckDb;

/// <summary>
/// The tables of the embedded store. Symbols and stacks are stored once and referenced by dense integer ids;
/// ids are assigned by <see cref="SymbolTable"/> in memory, so the tables carry no index or constraint that
/// would slow appends. <c>samples</c> is append-ordered by time, which lets DuckDB's zone maps skip row groups
/// outside a queried range. <c>sample_rollups</c> holds the sums of whole buckets listed in <c>rollup_buckets</c>
/// and <c>profile_rollups</c> the per-minute sums of <c>profiles</c> in rolled 10-minute buckets
/// (see DuckDbProfileStore.Rollups.cs).
/// </summary>
internal static class Schema
{
    public const int Version = 1;

    public const string Create = """
        CREATE TABLE IF NOT EXISTS kiln_meta (key VARCHAR, value VARCHAR);
        CREATE TABLE IF NOT EXISTS series (id INTEGER, profile_type VARCHAR, labels VARCHAR);
        CREATE TABLE IF NOT EXISTS mappings (id INTEGER, file VARCHAR, build_id VARCHAR, memory_start UBIGINT, memory_limit UBIGINT, file_offset UBIGINT, has_functions BOOLEAN, has_filenames BOOLEAN, has_line_numbers BOOLEAN, has_inline_frames BOOLEAN);
        CREATE TABLE IF NOT EXISTS functions (id INTEGER, name VARCHAR, system_name VARCHAR, filename VARCHAR, start_line BIGINT);
        CREATE TABLE IF NOT EXISTS locations (id INTEGER, mapping_id INTEGER, address UBIGINT, is_folded BOOLEAN, lines BLOB);
        CREATE TABLE IF NOT EXISTS stacks (id INTEGER, locations BLOB);
        CREATE TABLE IF NOT EXISTS sample_labels (id INTEGER, labels VARCHAR);
        CREATE TABLE IF NOT EXISTS profiles (series_id INTEGER, ts BIGINT, duration BIGINT, period BIGINT, total BIGINT, sample_rows INTEGER);
        CREATE TABLE IF NOT EXISTS samples (series_id INTEGER, ts BIGINT, stack_id INTEGER, labels_id INTEGER, value BIGINT);
        CREATE TABLE IF NOT EXISTS sample_rollups (width BIGINT, bucket BIGINT, series_id INTEGER, stack_id INTEGER, labels_id INTEGER, value BIGINT);
        CREATE TABLE IF NOT EXISTS rollup_buckets (width BIGINT, bucket BIGINT);
        CREATE TABLE IF NOT EXISTS profile_rollups (bucket BIGINT, minute BIGINT, series_id INTEGER, total BIGINT, duration BIGINT, profiles INTEGER);
        """;
}
