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
    dotnet pwsh ./build.ps1 pack                  # NuGet packages into artifacts/packages
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('build', 'test', 'bench', 'pack', 'all')]
    [string[]] $Target = @('build', 'test'),

    [string] $Configuration = 'Release',

    # BenchmarkDotNet --filter for the bench target.
    [string] $BenchFilter = '*',

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
        'pack' {
            $packages = Join-Path $ArtifactsPath 'packages'
            Get-ChildItem (Join-Path $PSScriptRoot 'src') -Filter *.csproj -Recurse | ForEach-Object {
                Invoke-Dotnet @('pack', $_.FullName, '--configuration', $Configuration, '--output', $packages)
            }
        }
    }
}
