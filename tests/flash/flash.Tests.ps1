# Pester 6 tests of flash.ps1. A stand-in `nanoff` (and `dotnet`, `mosquitto_sub` where needed) on PATH records
# its arguments; the configuration file the script deploys is copied by the stand-in and parsed back by the
# firmware core's own parser (the simulator's --check-config and the core assembly itself).
# Run with tests/flash/run-pester.ps1 (.ci/run does). The stand-ins are bash scripts: these tests run on Linux/macOS.

BeforeDiscovery {
    $script:Unix = -not $IsWindows
}

BeforeAll {
    $script:Repo = (Resolve-Path (Join-Path $PSScriptRoot '..' '..')).ProviderPath
    $script:Flash = Join-Path $Repo 'flash.ps1'
    $script:WifiSecret = 'Wifi-S3cret-9f2c'
    $script:MqttSecret = 'Mqtt-S3cret-41aa'
    $script:Image = Join-Path $TestDrive 'SensorNode.Firmware.Device.bin'
    Set-Content -LiteralPath $Image -Value 'image'
    $script:Ca = Join-Path $TestDrive 'ca.pem'
    Set-Content -LiteralPath $Ca -Value '-----BEGIN CERTIFICATE-----'

    # How to start another PowerShell: this one's host (pwsh, or dotnet + pwsh.dll for the dotnet tool).
    $script:PwshFile = [Environment]::ProcessPath
    $script:PwshPrefix = @()
    if ([IO.Path]::GetFileNameWithoutExtension($PwshFile) -eq 'dotnet') { $script:PwshPrefix = @(Join-Path $PSHOME 'pwsh.dll') }

    # The stand-ins.
    $script:Bin = Join-Path $TestDrive 'bin'
    New-Item -ItemType Directory -Path $Bin | Out-Null
    $nanoff = @'
#!/bin/bash
# stand-in nanoff: records argv (tab-separated, one call per line), copies deployed files, can fail on request
{ printf 'nanoff'; for a in "$@"; do printf '\t%s' "$a"; done; printf '\n'; } >> "$STUB_RECORD"
prev=""
for a in "$@"; do
  if [ "$prev" = "--filedeployment" ] || [ "$prev" = "--networkdeployment" ]; then
    n=$(ls "$STUB_COPIES" | wc -l)
    cp "$a" "$STUB_COPIES/$n-$(basename "$a")"
    src=$(sed -n 's/.*"SourceFilePath": *"\(.*\)".*/\1/p' "$a")
    if [ -n "$src" ]; then
      cp "$src" "$STUB_COPIES/$n-$(basename "$src")"
      stat -c '%a' "$src" > "$STUB_COPIES/$n-mode" 2>/dev/null || stat -f '%Lp' "$src" > "$STUB_COPIES/$n-mode"
    fi
  fi
  prev="$a"
done
for a in "$@"; do
  if [ -n "${STUB_FAIL_ON:-}" ] && [ "$a" = "$STUB_FAIL_ON" ]; then echo "E5002: stand-in failure (could not connect)"; exit 5; fi
done
echo "stand-in nanoff: ok"
'@
    $mosquitto = @'
#!/bin/bash
{ printf 'mosquitto_sub'; for a in "$@"; do printf '\t%s' "$a"; done; printf '\n'; } >> "$STUB_RECORD"
cat "$STUB_SUB_LINES"
'@
    # Installs the stand-in nanoff into $HOME/.dotnet/tools the way `dotnet tool install --global nanoff` would.
    $dotnet = @'
#!/bin/bash
{ printf 'dotnet'; for a in "$@"; do printf '\t%s' "$a"; done; printf '\n'; } >> "$STUB_RECORD"
if [ "$1 $2" = "tool install" ]; then mkdir -p "$HOME/.dotnet/tools"; cp "$STUB_NANOFF" "$HOME/.dotnet/tools/nanoff"; fi
'@
    $script:NanoffStub = Join-Path $Bin 'nanoff'
    Set-Content -LiteralPath $NanoffStub -Value $nanoff -NoNewline
    Set-Content -LiteralPath (Join-Path $Bin 'mosquitto_sub') -Value $mosquitto -NoNewline
    $script:DotnetBin = Join-Path $TestDrive 'dotnet-only'
    New-Item -ItemType Directory -Path $DotnetBin | Out-Null
    Set-Content -LiteralPath (Join-Path $DotnetBin 'dotnet') -Value $dotnet -NoNewline
    if (-not $IsWindows) { & chmod +x $NanoffStub (Join-Path $Bin 'mosquitto_sub') (Join-Path $DotnetBin 'dotnet') }

    # The firmware core (net10.0) and the simulator, built by `dotnet test` before this runs (or built here).
    $sim = Get-ChildItem -Path (Join-Path $Repo 'firmware' 'SensorNode.Simulator' 'bin') -Filter 'sensornode-simulator.dll' -Recurse -ErrorAction SilentlyContinue | Sort-Object LastWriteTime -Descending | Select-Object -First 1
    if (-not $sim) {
        & dotnet build (Join-Path $Repo 'firmware' 'SensorNode.Simulator') -v q -nologo | Out-Host
        $sim = Get-ChildItem -Path (Join-Path $Repo 'firmware' 'SensorNode.Simulator' 'bin') -Filter 'sensornode-simulator.dll' -Recurse | Select-Object -First 1
    }
    $script:Simulator = $sim.FullName
    Add-Type -LiteralPath (Join-Path $sim.DirectoryName 'SensorNode.Firmware.Core.dll')

    function script:Invoke-FlashProcess {
        # Runs flash.ps1 in a new PowerShell with the stand-ins first on PATH; returns exit code, output, calls.
        param(
            [string]$Arguments,
            [string]$Before = '',
            [string]$Path = ($Bin + [IO.Path]::PathSeparator + $env:PATH),
            [hashtable]$Environment = @{},
            [string[]]$SubscriberLines = @()
        )
        $run = Join-Path $TestDrive ([guid]::NewGuid().ToString('N'))
        $copies = Join-Path $run 'copies'
        New-Item -ItemType Directory -Path $copies | Out-Null
        $record = Join-Path $run 'record.txt'
        $lines = Join-Path $run 'sub-lines.txt'
        Set-Content -LiteralPath $lines -Value $SubscriberLines
        # Secrets travel in environment variables, so that not even this test's command line holds them.
        $wifi = '(ConvertTo-SecureString $env:T_WIFI -AsPlainText -Force)'
        $mqtt = '(ConvertTo-SecureString $env:T_MQTT -AsPlainText -Force)'
        $command = "$Before try { & '$Flash' $($Arguments.Replace('{wifi}', $wifi).Replace('{mqtt}', $mqtt)) } catch { [Console]::Error.WriteLine(`$_.ToString()); exit 3 }; exit `$LASTEXITCODE"
        $psi = [System.Diagnostics.ProcessStartInfo]::new($PwshFile)
        foreach ($a in $PwshPrefix + @('-NoProfile', '-NonInteractive', '-Command', $command)) { $psi.ArgumentList.Add($a) }
        $psi.RedirectStandardOutput = $true
        $psi.RedirectStandardError = $true
        $psi.RedirectStandardInput = $true
        $psi.WorkingDirectory = $run
        $psi.Environment['PATH'] = $Path
        $psi.Environment['NO_COLOR'] = '1'
        $psi.Environment['STUB_RECORD'] = $record
        $psi.Environment['STUB_COPIES'] = $copies
        $psi.Environment['STUB_SUB_LINES'] = $lines
        $psi.Environment['STUB_NANOFF'] = $NanoffStub
        $psi.Environment['T_WIFI'] = $WifiSecret
        $psi.Environment['T_MQTT'] = $MqttSecret
        foreach ($k in $Environment.Keys) { $psi.Environment[$k] = $Environment[$k] }
        $p = [System.Diagnostics.Process]::Start($psi)
        $p.StandardInput.Close()
        $out = $p.StandardOutput.ReadToEndAsync()
        $err = $p.StandardError.ReadToEndAsync()
        $p.WaitForExit()
        [pscustomobject]@{
            ExitCode = $p.ExitCode
            StdOut   = $out.Result
            StdErr   = $err.Result
            Copies   = $copies
            Record   = $record
            Dir      = $run
        }
    }

    function script:Get-Call {
        # The recorded calls of one program: an array of argument arrays.
        param($Result, [string]$Program = 'nanoff')
        $list = [System.Collections.Generic.List[object]]::new()
        if (Test-Path -LiteralPath $Result.Record) {
            foreach ($line in Get-Content -LiteralPath $Result.Record) {
                $fields = $line -split "`t"
                if ($fields[0] -eq $Program) { $list.Add([string[]]@($fields | Select-Object -Skip 1)) }
            }
        }
        , $list.ToArray()
    }

    function script:Get-DeployedConfig {
        param($Result)
        $file = Get-ChildItem -LiteralPath $Result.Copies -Filter '*-sensornode.conf' | Select-Object -First 1
        if (-not $file) { throw "no configuration was deployed. stdout: $($Result.StdOut) stderr: $($Result.StdErr)" }
        $file.FullName
    }

    $script:Base0 = "-SerialPort /dev/ttyUSB0 -WifiSsid HomeNet -WifiPassword {wifi} -MqttHost 192.168.1.10 -Room kitchen"
    $script:Base = "$Base0 -ImagePath '$Image'"
}

Describe 'flash.ps1 help' {
    It 'documents every parameter with an example, and has examples' {
        $help = Get-Help $Flash -Full
        $names = (Get-Command $Flash).Parameters.Keys | Where-Object { $_ -notin [System.Management.Automation.PSCmdlet]::CommonParameters -and $_ -notin 'WhatIf', 'Confirm' }
        $names.Count | Should -BeGreaterThan 25
        foreach ($name in $names) {
            $p = $help.parameters.parameter | Where-Object name -EQ $name
            $text = ($p.description | ForEach-Object Text) -join ' '
            $text | Should -Match 'Example: ' -Because "parameter $name needs a description with an example"
        }
        @($help.examples.example).Count | Should -BeGreaterOrEqual 4
        $help.Synopsis | Should -Match 'ESP32'
    }
}

Describe 'nanoff command lines' -Skip:(-not $Unix) {
    It 'flashes firmware, deploys the image and writes the configuration with a reset, in that order' {
        $r = Invoke-FlashProcess $Base
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $calls = Get-Call $r
        $calls.Count | Should -Be 3
        $calls[0] | Should -Be @('--update', '--target', 'ESP32_PSRAM_REV0', '--serialport', '/dev/ttyUSB0')
        $calls[1] | Should -Be @('--target', 'ESP32_PSRAM_REV0', '--serialport', '/dev/ttyUSB0', '--deploy', '--image', $Image)
        $calls[2][3] | Should -Match 'deploy\.json$'
        $calls[2] | Should -Be @('--serialport', '/dev/ttyUSB0', '--filedeployment', $calls[2][3], '--reset')
    }

    It 'passes the deployment file nanoff expects: I:\sensornode.conf from a private temporary file, removed afterwards' {
        $r = Invoke-FlashProcess $Base
        $json = Get-ChildItem -LiteralPath $r.Copies -Filter '*-deploy.json' | Get-Content -Raw | ConvertFrom-Json
        $json.SerialPort | Should -Be '/dev/ttyUSB0'
        @($json.Files).Count | Should -Be 1
        $json.Files[0].DestinationFilePath | Should -Be 'I:\sensornode.conf'
        $json.Files[0].SourceFilePath | Should -Match 'sensornode\.conf$'
        Test-Path -LiteralPath $json.Files[0].SourceFilePath | Should -BeFalse -Because 'the file with the secrets is deleted'
        (Get-ChildItem -LiteralPath $r.Copies -Filter '*-mode' | Get-Content).Trim() | Should -Be '600'
    }

    It 'adds --masserase and --baud, and uses the given target' {
        $r = Invoke-FlashProcess "$Base -EraseFlash -Baud 115200 -Target ESP32_REV3"
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $calls = Get-Call $r
        $calls[0] | Should -Be @('--update', '--target', 'ESP32_REV3', '--serialport', '/dev/ttyUSB0', '--masserase', '--baud', '115200')
        $calls[1] | Should -Be @('--target', 'ESP32_REV3', '--serialport', '/dev/ttyUSB0', '--deploy', '--image', $Image, '--baud', '115200')
    }

    It 'skips the firmware with -SkipFirmware' {
        $r = Invoke-FlashProcess ("$Base -SkipFirmware" -replace '/dev/ttyUSB0', 'COM3')
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $calls = Get-Call $r
        $calls.Count | Should -Be 2
        $calls[0] | Should -Be @('--target', 'ESP32_PSRAM_REV0', '--serialport', 'COM3', '--deploy', '--image', $Image)
        $calls[1][2] | Should -Be '--filedeployment'
    }

    It 'only writes the configuration with -ConfigOnly' {
        $r = Invoke-FlashProcess "-ConfigOnly -SerialPort /dev/ttyACM0 -WifiSsid HomeNet -OpenNetwork -MqttHost broker.lan -Room hall"
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $calls = Get-Call $r
        $calls.Count | Should -Be 1
        $calls[0][0..2] | Should -Be @('--serialport', '/dev/ttyACM0', '--filedeployment')
        $calls[0][4] | Should -Be '--reset'
    }

    It 'stores the CA certificate with --networkdeployment before the configuration when -Tls -CaCertificate' {
        $r = Invoke-FlashProcess "$Base -SkipFirmware -Tls -CaCertificate '$Ca'"
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $calls = Get-Call $r
        $calls.Count | Should -Be 3
        $calls[1][0..2] | Should -Be @('--serialport', '/dev/ttyUSB0', '--networkdeployment')
        $calls[2][2] | Should -Be '--filedeployment'
        $net = Get-ChildItem -LiteralPath $r.Copies -Filter '*-network.json' | Get-Content -Raw | ConvertFrom-Json
        $net.CACertificatesPath | Should -Be $Ca
        $net.SerialPort | Should -Be '/dev/ttyUSB0'
        $net.PSObject.Properties.Name | Should -Not -Contain 'WirelessClient'
    }

    It 'installs nanoff with the .NET SDK when it is missing' {
        $home2 = Join-Path $TestDrive ('home-' + [guid]::NewGuid().ToString('N'))
        New-Item -ItemType Directory -Path $home2 | Out-Null
        $r = Invoke-FlashProcess "$Base0 -ConfigOnly" -Path ($DotnetBin + [IO.Path]::PathSeparator + '/usr/bin' + [IO.Path]::PathSeparator + '/bin') -Environment @{ HOME = $home2 }
        $r.ExitCode | Should -Be 0 -Because "$($r.StdOut) $($r.StdErr)"
        (Get-Call $r 'dotnet')[0] | Should -Be @('tool', 'install', '--global', 'nanoff')
        (Get-Call $r).Count | Should -Be 1 -Because 'the freshly installed nanoff is found in ~/.dotnet/tools'
    }

    It 'updates nanoff with -UpdateNanoff' {
        $r = Invoke-FlashProcess "$Base0 -ConfigOnly -UpdateNanoff" -Path ($DotnetBin + [IO.Path]::PathSeparator + $Bin + [IO.Path]::PathSeparator + '/usr/bin' + [IO.Path]::PathSeparator + '/bin')
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        (Get-Call $r 'dotnet')[0] | Should -Be @('tool', 'update', '--global', 'nanoff')
    }

    It 'reports a failing nanoff step with the step and what to try, and stops there' {
        $r = Invoke-FlashProcess $Base -Environment @{ STUB_FAIL_ON = '--deploy' }
        $r.ExitCode | Should -Be 1
        $r.StdErr | Should -Match "step 'deploy application' failed"
        $r.StdErr | Should -Match 'exited with code 5'
        $r.StdErr | Should -Match 'BOOT'
        $r.StdErr | Should -Match '-ListPorts'
        $r.StdErr | Should -Match '-Baud 115200'
        (Get-Call $r).Count | Should -Be 2 -Because 'the configuration is not written after a failed deploy'
        $r.StdOut | Should -Match 'E5002'
    }

    It 'lists serial ports with -ListPorts' {
        $r = Invoke-FlashProcess '-ListPorts'
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        (Get-Call $r)[0] | Should -Be @('--listports')
    }
}

Describe 'the configuration file, read back by the firmware core parser' -Skip:(-not $Unix) {
    It 'writes the defaults in the firmware format, accepted by sensornode-simulator --check-config' {
        $r = Invoke-FlashProcess $Base
        $conf = Get-DeployedConfig $r
        $lines = Get-Content -LiteralPath $conf | Where-Object { $_ -notmatch '^#' }
        $lines | Should -Be @(
            'wifi_ssid=HomeNet', "wifi_password=$WifiSecret", 'mqtt_host=192.168.1.10', 'mqtt_port=1883', 'mqtt_tls=false',
            'room=kitchen', 'sensor_model=DHT22', 'sensor_echo_pin=26', 'sensor_trigger_pin=27', 'led_pin=2',
            'led_inverted=false', 'read_interval_s=10', 'heartbeat_s=300')
        [IO.File]::ReadAllBytes($conf)[0] | Should -Be ([byte][char]'#') -Because 'UTF-8 without BOM'
        $check = & dotnet $Simulator --check-config $conf 2>&1
        $LASTEXITCODE | Should -Be 0 -Because ($check -join "`n")
        ($check -join "`n") | Should -Match 'OK \(room kitchen, node id sensornode_kitchen, broker 192\.168\.1\.10:1883, DHT22 on GPIO 26/27, every 10 s\)'
    }

    It 'round-trips every option, including values with outer spaces and quotes' {
        $args2 = "-SerialPort COM7 -WifiSsid ' My Wifi ' -WifiPassword (ConvertTo-SecureString ' pass `"word`" ' -AsPlainText -Force) " +
            "-MqttHost mqtt.example.org -MqttPort 8884 -Tls -CaCertificate '$Ca' -MqttUser 'node user' -MqttPassword {mqtt} " +
            "-Room 'Living room ü' -NodeId living_1 -SensorModel DHT11 -SensorEchoPin 32 -SensorTriggerPin 33 -LedPin -1 -LedInverted " +
            "-ReadIntervalSeconds 30 -HeartbeatSeconds 600 -ConfigOnly"
        $r = Invoke-FlashProcess $args2
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $conf = Get-DeployedConfig $r
        & dotnet $Simulator --check-config $conf | Should -Match 'OK \(room Living room ü, node id living_1, broker mqtt\.example\.org:8884 TLS, DHT11 on GPIO 32/33, every 30 s\)'
        $parsed = [SensorNode.Firmware.Core.Config.ConfigParser]::Parse([IO.File]::ReadAllText($conf))
        $parsed.Errors | Should -BeNullOrEmpty
        $c = $parsed.Config
        $c.WifiSsid | Should -BeExactly ' My Wifi '
        $c.WifiPassword | Should -BeExactly ' pass "word" '
        $c.MqttHost | Should -Be 'mqtt.example.org'
        $c.MqttPort | Should -Be 8884
        $c.MqttTls | Should -BeTrue
        $c.MqttUser | Should -BeExactly 'node user'
        $c.MqttPassword | Should -BeExactly $MqttSecret
        $c.Room | Should -BeExactly 'Living room ü'
        $c.NodeId | Should -Be 'living_1'
        $c.SensorModel | Should -Be ([SensorNode.Firmware.Core.Readings.SensorModel]::Dht11)
        $c.SensorEchoPin | Should -Be 32
        $c.SensorTriggerPin | Should -Be 33
        $c.LedPin | Should -Be -1
        $c.LedInverted | Should -BeTrue
        $c.ReadIntervalSeconds | Should -Be 30
        $c.HeartbeatSeconds | Should -Be 600
    }

    It 'uses port 8883 with -Tls and no port, and leaves out the password of an open network' {
        $r = Invoke-FlashProcess '-ConfigOnly -SerialPort COM3 -WifiSsid Cafe -OpenNetwork -MqttHost h -Room r -Tls'
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $conf = Get-DeployedConfig $r
        $text = Get-Content -Raw -LiteralPath $conf
        $text | Should -Not -Match 'wifi_password'
        $c = [SensorNode.Firmware.Core.Config.ConfigParser]::Parse($text)
        $c.IsValid | Should -BeTrue
        $c.Config.MqttPort | Should -Be 8883
        $c.Config.WifiPassword | Should -Be ''
    }
}

Describe 'parameter validation' {
    BeforeAll {
        $script:Valid = @{ SerialPort = 'COM3'; WifiSsid = 'HomeNet'; OpenNetwork = $true; MqttHost = 'h'; Room = 'kitchen'; ConfigOnly = $true; WhatIf = $true }
    }

    It 'rejects room <Room>' -ForEach @(
        @{ Room = 'kitchen/1' }, @{ Room = 'a+b' }, @{ Room = 'all#' }, @{ Room = ' lead' }, @{ Room = 'trail ' }, @{ Room = "tab`there" }, @{ Room = ('x' * 65) }
    ) {
        $p = $Valid.Clone(); $p.Room = $Room
        { & $Flash @p } | Should -Throw -ExpectedMessage '*one MQTT topic level*'
    }

    It 'rejects an empty room' {
        $p = $Valid.Clone(); $p.Room = ''
        { & $Flash @p } | Should -Throw
    }

    It 'rejects sensor pin <Pin> for <Name>' -ForEach @(
        @{ Name = 'SensorEchoPin'; Pin = 0 }, @{ Name = 'SensorEchoPin'; Pin = 2 }, @{ Name = 'SensorEchoPin'; Pin = 5 },
        @{ Name = 'SensorEchoPin'; Pin = 12 }, @{ Name = 'SensorEchoPin'; Pin = 15 }, @{ Name = 'SensorTriggerPin'; Pin = 12 },
        @{ Name = 'SensorTriggerPin'; Pin = 0 }
    ) {
        $p = $Valid.Clone(); $p[$Name] = $Pin
        { & $Flash @p } | Should -Throw -ExpectedMessage '*boot-strapping*'
    }

    It 'rejects flash-chip pins, input-only trigger pins and out-of-range pins' -ForEach @(
        @{ Name = 'SensorEchoPin'; Pin = 6 }, @{ Name = 'SensorTriggerPin'; Pin = 34 }, @{ Name = 'SensorEchoPin'; Pin = 40 },
        @{ Name = 'LedPin'; Pin = 9 }, @{ Name = 'LedPin'; Pin = 34 }, @{ Name = 'LedPin'; Pin = -2 }
    ) {
        $p = $Valid.Clone(); $p[$Name] = $Pin
        { & $Flash @p } | Should -Throw -ExpectedMessage "*GPIO $Pin*"
    }

    It 'rejects <Name> = <Value>' -ForEach @(
        @{ Name = 'MqttPort'; Value = 0 }, @{ Name = 'MqttPort'; Value = 65536 }, @{ Name = 'SensorModel'; Value = 'DHT33' },
        @{ Name = 'ReadIntervalSeconds'; Value = 0 }, @{ Name = 'ReadIntervalSeconds'; Value = 3601 }, @{ Name = 'HeartbeatSeconds'; Value = 9 },
        @{ Name = 'SerialPort'; Value = 'ttyUSB0' }, @{ Name = 'MqttHost'; Value = 'my host' }, @{ Name = 'WifiSsid'; Value = ('s' * 33) },
        @{ Name = 'NodeId'; Value = 'bad id' }, @{ Name = 'Target'; Value = 'ESP32 REV0' }, @{ Name = 'Baud'; Value = 100 }
    ) {
        $p = $Valid.Clone(); $p[$Name] = $Value
        { & $Flash @p } | Should -Throw -ExpectedMessage "*$Name*"
    }

    It 'rejects combinations: <Because>' -Skip:(-not $Unix) -ForEach @(
        @{ Extra = '-OpenNetwork -ConfigOnly -SensorEchoPin 27 -SensorTriggerPin 27'; Because = 'must differ' }
        @{ Extra = '-OpenNetwork -ConfigOnly -ReadIntervalSeconds 1'; Because = 'must be at least 2 s for DHT22' }
        @{ Extra = '-OpenNetwork -ConfigOnly -ReadIntervalSeconds 60 -HeartbeatSeconds 30'; Because = 'must not be shorter' }
        @{ Extra = '-OpenNetwork -ConfigOnly -LedPin 26'; Because = 'is a sensor pin' }
        @{ Extra = '-OpenNetwork -ConfigOnly -MqttPassword {mqtt}'; Because = 'needs -MqttUser' }
        @{ Extra = "-OpenNetwork -ConfigOnly -CaCertificate '$PSCommandPath'"; Because = 'needs -Tls' }
        @{ Extra = '-OpenNetwork -SkipFirmware -EraseFlash'; Because = 'cannot be combined' }
        @{ Extra = "-ConfigOnly -WifiPassword (ConvertTo-SecureString 'short' -AsPlainText -Force)"; Because = '8 to 63' }
    ) {
        $r = Invoke-FlashProcess "-SerialPort COM3 -WifiSsid HomeNet -MqttHost h -Room kitchen $Extra"
        $r.ExitCode | Should -Be 2 -Because $r.StdErr
        $r.StdErr | Should -Match ([regex]::Escape($Because))
        (Get-Call $r).Count | Should -Be 0
    }

    It 'accepts DHT11 at 1 s' {
        $p = $Valid.Clone(); $p.SensorModel = 'DHT11'; $p.ReadIntervalSeconds = 1; $p.HeartbeatSeconds = 10
        $null = & $Flash @p 6>$null
        $LASTEXITCODE | Should -Be 0
    }

    It 'fails without an SSID when it cannot prompt' -Skip:(-not $Unix) {
        $r = Invoke-FlashProcess "-SerialPort COM3 -OpenNetwork -MqttHost h -Room kitchen -ConfigOnly"
        $r.ExitCode | Should -Not -Be 0
        $r.StdErr | Should -Match 'WifiSsid'
        (Get-Call $r).Count | Should -Be 0
    }
}

Describe 'secrets' -Skip:(-not $Unix) {
    It 'never shows the Wi-Fi or MQTT password in any output, transcript or command line, though the device gets them' {
        $transcript = Join-Path $TestDrive 'transcript.txt'
        $r = Invoke-FlashProcess "$Base -MqttUser node -MqttPassword {mqtt} -Tls -CaCertificate '$Ca' -Verbose -Debug -InformationAction Continue" -Before "Start-Transcript -LiteralPath '$transcript' | Out-Null;"
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        $everything = $r.StdOut + $r.StdErr + (Get-Content -Raw -LiteralPath $transcript) + (Get-Content -Raw -LiteralPath $r.Record)
        $everything | Should -Match 'wifi_ssid=HomeNet' -Because 'the verbose configuration summary is there'
        $everything | Should -Not -Match $WifiSecret
        $everything | Should -Not -Match $MqttSecret
        Get-ChildItem -LiteralPath $r.Copies -Filter '*.json' | Get-Content -Raw | Should -Not -Match "$WifiSecret|$MqttSecret"
        $conf = Get-Content -Raw -LiteralPath (Get-DeployedConfig $r)
        $conf | Should -Match "wifi_password=$WifiSecret" -Because 'positive control: the secrets did reach the device'
        $conf | Should -Match "mqtt_password=$MqttSecret"
    }

    It 'keeps the secrets out of the error path' {
        $r = Invoke-FlashProcess "$Base -MqttUser node -MqttPassword {mqtt}" -Environment @{ STUB_FAIL_ON = '--filedeployment' }
        $r.ExitCode | Should -Be 1
        ($r.StdOut + $r.StdErr) | Should -Not -Match "$WifiSecret|$MqttSecret"
        $r.StdErr | Should -Match "step 'write configuration' failed"
    }

    It 'masks the MQTT password in the printed subscriber command' {
        $r = Invoke-FlashProcess "$Base -SkipFirmware -MqttUser node -MqttPassword {mqtt} -WaitForNode -WaitTimeoutSeconds 10" -SubscriberLines @('0 sensor/status/kitchen online', '0 sensor/temperature/kitchen 21.4')
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        ($r.StdOut + $r.StdErr) | Should -Not -Match $MqttSecret
        $r.StdOut | Should -Match ([regex]::Escape('-u node -P ***'))
    }
}

Describe '-WhatIf' -Skip:(-not $Unix) {
    It 'prints every external command and runs none' {
        $r = Invoke-FlashProcess "$Base -EraseFlash -Tls -CaCertificate '$Ca' -WaitForNode -WhatIf"
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        Test-Path -LiteralPath $r.Record | Should -BeFalse -Because 'no stand-in was started'
        $r.StdOut | Should -Match ([regex]::Escape('"flash firmware" on target "nanoff --update --target ESP32_PSRAM_REV0 --serialport /dev/ttyUSB0 --masserase"'))
        $r.StdOut | Should -Match ([regex]::Escape("`"deploy application`" on target `"nanoff --target ESP32_PSRAM_REV0 --serialport /dev/ttyUSB0 --deploy --image $Image`""))
        $r.StdOut | Should -Match '"store CA certificate" on target "nanoff --serialport /dev/ttyUSB0 --networkdeployment [^"]*network\.json"'
        $r.StdOut | Should -Match '"write configuration" on target "nanoff --serialport /dev/ttyUSB0 --filedeployment [^"]*deploy\.json --reset"'
        $r.StdOut | Should -Match '"wait for the node" on target "mosquitto_sub -h 192\.168\.1\.10 -p 8883 '
        $r.StdOut | Should -Not -Match $WifiSecret
        @(Get-ChildItem -LiteralPath ([IO.Path]::GetTempPath()) -Filter 'sensornode-flash-*' -Directory -ErrorAction SilentlyContinue |
            Where-Object LastWriteTime -GT (Get-Date).AddSeconds(-30)).Count | Should -Be 0 -Because 'nothing is written'
    }

    It 'says what to install when the device project cannot be built here, and still lists the steps' {
        $r = Invoke-FlashProcess $Base0
        $r.ExitCode | Should -Be 1 -Because 'without -WhatIf the build step fails with instructions'
        $r.StdErr | Should -Match 'Visual Studio 2022'
        $r.StdErr | Should -Match 'nanoFramework'
        $r.StdErr | Should -Match '-ImagePath'
        (Get-Call $r).Count | Should -Be 0
        $w = Invoke-FlashProcess "$Base0 -WhatIf"
        $w.ExitCode | Should -Be 0
        $w.StdOut | Should -Match 'deploy --image <SensorNode.Firmware.Device.bin>'
        Test-Path -LiteralPath $w.Record | Should -BeFalse
    }
}

Describe 'waiting for the node' -Skip:(-not $Unix) {
    It 'subscribes to the node topics and ignores stale retained messages' {
        $lines = @('1 sensor/status/kitchen online', '1 sensor/temperature/kitchen 19.0', '0 sensor/status/kitchen online', '0 sensor/humidity/kitchen 45.0')
        $r = Invoke-FlashProcess "$Base -SkipFirmware -WaitForNode -BrokerHost localhost -WaitTimeoutSeconds 10" -SubscriberLines $lines
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        (Get-Call $r 'mosquitto_sub')[0] | Should -Be @('-h', 'localhost', '-p', '1883', '-F', '%r %t %p', '-W', '10',
            '-t', 'sensor/status/kitchen', '-t', 'sensor/temperature/kitchen', '-t', 'sensor/humidity/kitchen')
        $r.StdOut | Should -Match 'first reading: sensor/humidity/kitchen = 45\.0'
        $r.StdOut | Should -Match "online and reporting"
    }

    It 'fails with advice when only stale retained values arrive' {
        $r = Invoke-FlashProcess "$Base -SkipFirmware -WaitForNode -WaitTimeoutSeconds 10" -SubscriberLines @('1 sensor/status/kitchen online', '1 sensor/temperature/kitchen 19.0')
        $r.ExitCode | Should -Be 1
        $r.StdErr | Should -Match "step 'wait for the node' failed: no 'online' on sensor/status/kitchen and a reading"
    }
}
