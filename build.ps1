#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Builds, tests, benchmarks and packs PipelineServer. Fails fast on the first error.
.DESCRIPTION
    Runs under PowerShell installed as a local .NET tool, so a machine with only the .NET SDK can run it:
        dotnet tool restore
        dotnet pwsh ./build.ps1 test
.EXAMPLE
    dotnet pwsh ./build.ps1                       # build + test
.EXAMPLE
    dotnet pwsh ./build.ps1 bench -BenchFilter '*Framing*'
.EXAMPLE
    dotnet pwsh ./build.ps1 load-matrix           # framework vs baseline load matrix (docs/performance.md), ~6 minutes
.EXAMPLE
    dotnet pwsh ./build.ps1 pack                  # NuGet packages into artifacts/packages
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('build', 'test', 'bench', 'load-matrix', 'pack', 'all')]
    [string[]] $Target = @('build', 'test'),

    [string] $Configuration = 'Release',

    # BenchmarkDotNet --filter for the bench target.
    [string] $BenchFilter = '*',

    # Seconds measured (and as many warmed up) per run of the load-matrix target; each row runs 3 rounds per server.
    [int] $LoadSeconds = 4,

    [string] $ArtifactsPath = (Join-Path $PSScriptRoot 'artifacts')
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$solution = Join-Path $PSScriptRoot 'PipelineServer.sln'

# Arguments are passed as one array, so PowerShell never mistakes dotnet's switches (-c, -o) for its own parameters.
function Invoke-Dotnet {
    param([Parameter(Mandatory, Position = 0)] [string[]] $Arguments)
    Write-Host "> dotnet $($Arguments -join ' ')" -ForegroundColor Cyan
    & dotnet @Arguments
    if ($LASTEXITCODE -ne 0) {
        throw "dotnet $($Arguments -join ' ') failed with exit code $LASTEXITCODE."
    }
}

if ($Target -contains 'all') {
    $Target = @('build', 'test', 'pack')
}

$built = $false
foreach ($step in $Target) {
    switch ($step) {
        'build' {
            Invoke-Dotnet @('restore', $solution)
            Invoke-Dotnet @('build', $solution, '--configuration', $Configuration, '--no-restore')
            $built = $true
        }
        'test' {
            $testArgs = @('test', $solution, '--configuration', $Configuration)
            if ($built) { $testArgs += '--no-build' }
            Invoke-Dotnet $testArgs
        }
        'bench' {
            $benchProject = Join-Path $PSScriptRoot 'perf/PipelineServer.Benchmarks'
            Invoke-Dotnet @('run', '--configuration', 'Release', '--project', $benchProject, '--', '--filter', $BenchFilter, '--artifacts', (Join-Path $ArtifactsPath 'benchmarks'))
        }
        'load-matrix' {
            # Each row: framework vs baseline, alternately, 3 rounds each; one JSON summary per row.
            $loadProject = Join-Path $PSScriptRoot 'perf/PipelineServer.LoadTest'
            $outDir = Join-Path $ArtifactsPath 'load-matrix'
            New-Item -ItemType Directory -Force -Path $outDir | Out-Null
            Invoke-Dotnet @('build', $loadProject, '--configuration', 'Release')
            $rows = @(
                @{ C = 1; P = 1; S = '16' }, @{ C = 64; P = 1; S = '256' }, @{ C = 256; P = 1; S = '256' },
                @{ C = 1; P = 32; S = '16' }, @{ C = 16; P = 32; S = '16' }, @{ C = 16; P = 32; S = '4k' },
                @{ C = 64; P = 16; S = '64' })
            $table = foreach ($row in $rows) {
                $json = Join-Path $outDir "c$($row.C)-p$($row.P)-s$($row.S).json"
                Invoke-Dotnet @('run', '--configuration', 'Release', '--no-build', '--project', $loadProject, '--', 'echo',
                    '--compare', 'framework,baseline', '--rounds', '3', '-c', "$($row.C)", '-p', "$($row.P)", '-s', $row.S,
                    '-d', "$($LoadSeconds)s", '-w', "$($LoadSeconds)s", '--json', $json) | Out-Host
                $summary = Get-Content $json -Raw | ConvertFrom-Json
                $framework = @($summary.runs | Where-Object server -EQ 'framework')
                $baseline = @($summary.runs | Where-Object server -EQ 'baseline')
                $median = { param($values) $sorted = @($values | Sort-Object); $sorted[[int][Math]::Floor($sorted.Count / 2)] }
                [pscustomobject]@{
                    Load                 = "$($row.C) x $($row.P) x $($row.S) B"
                    'framework req/s'    = '{0:N0}' -f (& $median ($framework | ForEach-Object requestsPerSecond))
                    'baseline req/s'     = '{0:N0}' -f (& $median ($baseline | ForEach-Object requestsPerSecond))
                    'ratio (median)'     = '{0:0.000}' -f $summary.ratios.median
                    'framework p99 us'   = '{0:N0}' -f (& $median ($framework | ForEach-Object { $_.latencyMicros.p99 }))
                    'baseline p99 us'    = '{0:N0}' -f (& $median ($baseline | ForEach-Object { $_.latencyMicros.p99 }))
                    'framework B/req'    = '{0:0.00}' -f (& $median ($framework | ForEach-Object serverAllocatedBytesPerRequest))
                    'harness/server CPU' = '{0:0.00}' -f (& $median ($framework | ForEach-Object { $_.harnessCpuMicrosPerRequest / [Math]::Max(1e-9, $_.serverCpuMicrosPerRequest) }))
                }
            }
            $table | Format-Table -AutoSize | Out-String -Width 200 | Write-Host
            $table | ConvertTo-Csv -NoTypeInformation | Set-Content (Join-Path $outDir 'matrix.csv')
        }
        'pack' {
            $packages = Join-Path $ArtifactsPath 'packages'
            Get-ChildItem (Join-Path $PSScriptRoot 'src') -Filter *.csproj -Recurse | ForEach-Object {
                Invoke-Dotnet @('pack', $_.FullName, '--configuration', $Configuration, '--output', $packages)
            }
        }
    }
}
